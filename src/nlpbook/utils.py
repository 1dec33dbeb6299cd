"""Seeding, devices, profiles, timing and the band checks the notebooks print.

Introduced in chapter 01 and used by every chapter.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import random
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from nlpbook.data.disk import save_atomically

PROFILES = ("quick", "full")
NONDETERMINISTIC_WARNING = r".*does not have a deterministic implementation"


def set_seed(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed python, numpy and torch; return a torch.Generator for DataLoader shuffling.

    Every chapter.
    """
    seed = _checked_seed(seed)  # before any generator is touched: a bad seed must not half-reseed
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        # warn_only: a few CUDA kernels have no deterministic version; we still want to run.
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN, a debugging aid against reading
        # uninitialised memory. No kernel here reads it (tests/test_utils.py trains with and
        # without the fill), and filling the LSTM kernels' workspaces cost ESIM 11% of a step.
        torch.utils.deterministic.fill_uninitialized_memory = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # ...and say nothing about them: on CUDA (embedding backward, scatter-add) those warnings
        # would land in cells whose output nbval compares, and the bands absorb what they change.
        warnings.filterwarnings("ignore", message=NONDETERMINISTIC_WARNING, category=UserWarning)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def whole_number(
    value: int | None, name: str, minimum: int = 1, *, none_ok: bool = False, what: str = ""
) -> int | None:
    """`value` as an int, or a ValueError naming `name` unless it is a whole number (bool is
    not) of at least `minimum` (or None, with `none_ok`). Every chapter's argument checks."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(
            f"{name} must be {'None (no limit) or ' if none_ok else ''}{kind}"
            f"{f' ({what})' if what else ''}, not {value!r}"
        )
    return int(value)


def _checked_seed(seed: int) -> int:
    """`seed` as an int (random.seed refuses NumPy integers), checked to be a whole number
    from 0 to 2**32 - 1 (NumPy's range); bool is refused."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be a whole number, not {type(seed).__name__} {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be from 0 to {2**32 - 1}, not {seed}")
    return int(seed)


@contextmanager
def flush_denormal() -> Iterator[None]:
    """Treat denormal floats as zero on the CPU inside the block, then go back to the default.

    Backpropagating from an RNN's final state through hundreds of steps shrinks gradients
    below 1.2e-38, where x86 arithmetic on "denormal" numbers is many times slower: chapter
    03's training step ran 4-5x faster with this on. Values that small change nothing a
    model learns. Introduced in chapter 03; `train.train_epoch` trains inside it."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _require_available(device: torch.device, asked: str) -> None:
    """Refuse a CUDA or MPS device this machine does not have; `asked` says who asked."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"{asked} asks for CUDA, but CUDA is not available here")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise RuntimeError(f"{asked} asks for GPU {device.index}, but this machine has {count}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"{asked} asks for MPS (Apple GPUs), but MPS is not available here")


def get_device(name: str | None = None) -> torch.device:
    """The device to train on: `name`, else $NLPBOOK_DEVICE, else CUDA if available, else CPU.

    A CUDA or MPS device that is not available is a RuntimeError. Every chapter.
    """
    asked = f"get_device({name!r})" if name else None
    if not name and os.environ.get("NLPBOOK_DEVICE"):
        name = os.environ["NLPBOOK_DEVICE"]
        asked = f"NLPBOOK_DEVICE={name!r}"
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"{asked} is not a device: use cpu, cuda, cuda:1 or mps") from None
    _require_available(device, asked)
    return device


def get_profile() -> str:
    """The run profile from $NLPBOOK_PROFILE: 'quick' (default, CPU, minutes) or 'full'.

    Every chapter.
    """
    profile = os.environ.get("NLPBOOK_PROFILE", "quick").strip().lower() or "quick"
    if profile not in PROFILES:
        raise ValueError(
            f"NLPBOOK_PROFILE={profile!r} is not a profile; use one of {', '.join(PROFILES)}"
        )
    return profile


SEED_ENV = "NLPBOOK_SEED"


def get_seed() -> int:
    """The run's seed from $NLPBOOK_SEED (default 0): model init, shuffling and dropout draw from it.

    Every chapter's config cell reads it once; the data splits stay fixed whatever the seed, so
    runs with different seeds train on the same examples and differ only in their draws. `make
    spread` runs every chapter with seeds 0-4 to measure how far the results move."""
    raw = os.environ.get(SEED_ENV, "0").strip() or "0"
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(f"{SEED_ENV}={raw!r} is not a whole number; use e.g. {SEED_ENV}=1") from None
    if not 0 <= seed < 2**32:
        raise ValueError(f"{SEED_ENV}={seed} is out of range; use a number from 0 to {2**32 - 1}")
    return seed


SMOKE_ENV = "NLPBOOK_SMOKE"

# The smoke run's sizes: (pattern for a config field name, the most that field may be).
# Counts of examples, vocabulary and sequence caps, model widths, epochs and batches shrink;
# every other field (num_layers, dropout, lr, glove, embedding_dim, min_len, patience, ...) is
# left alone, and so is None ("all of it", itself a code path). embedding_dim stays because
# the chapters that load GloVe tie it to the vectors' dimension.
_SMOKE_CAPS: tuple[tuple[str, int], ...] = (
    (r"epochs(_\w+)?|\w+_epochs", 1),
    (r"n_(train|val|valid|dev|test)", 16),
    (r"n_\w+|\w+_limit|limit", 96),  # totals: n_reviews, n_sentences, train_limit, ...
    (r"held_out(_\w+)?", 16),  # held_out, held_out_premises, ...
    (r"max_vocab|vocab_size|max_size", 1_000),
    (r"seq_len|max_tokens", 64),
    (r"hidden_size|hidden_dim|\w+_hidden_size|mlp_size|mlp_dim|ffn_size", 16),
    (r"batch_size|\w+_batch_size", 8),
    (r"eval_every|log_every|print_every", 2),
    (r"max_steps|steps", 20),
    (r"n_seeds|num_seeds", 2),
)

ConfigT = TypeVar("ConfigT")


def smoke_config(cfg: ConfigT) -> ConfigT:
    """`cfg` (a config dataclass) with its sizes shrunk so a chapter runs in seconds.

    For CI's smoke run of the full profile (tests/test_full_profile_smoke.py): each chapter's
    config cell reads ``NLPBOOK_SMOKE=1`` and passes its config through this function. Only
    the fields the dataclass has are touched, and only integer sizes are capped (see
    `_SMOKE_CAPS`: example counts, vocabulary, sequence length, widths, epochs, batch size,
    evaluation interval); a tuple of seeds keeps its first two. The code paths stay those of
    the profile: the same datasets, the same GloVe file, None still means "all". The result
    is a band check's nonsense, not a result. Introduced for CI; every chapter uses it.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"smoke_config takes a config dataclass instance, not {type(cfg).__name__}")
    changes = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "seeds" and isinstance(value, (tuple, list)) and len(value) > 2:
            changes[f.name] = type(value)(value[:2])
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        for pattern, cap in _SMOKE_CAPS:
            if re.fullmatch(pattern, f.name):
                if value > cap:
                    changes[f.name] = cap
                break
    return dataclasses.replace(cfg, **changes)


def pick_config(quick: ConfigT, full: ConfigT) -> ConfigT:
    """The chapter's config for this run: `quick` or `full` by $NLPBOOK_PROFILE, shrunk by
    `smoke_config` when $NLPBOOK_SMOKE is 1 (CI's smoke run). Every chapter's config cell."""
    cfg = quick if get_profile() == "quick" else full
    return smoke_config(cfg) if os.environ.get(SMOKE_ENV) == "1" else cfg


def count_parameters(model: torch.nn.Module) -> int:
    """The number of trainable parameters of a model. Chapters 03 and 04 print it."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class Timer:
    """A context manager that measures wall time: ``with Timer() as t: ...; t.seconds``.

    Chapters 02-05.
    """

    def __init__(self) -> None:
        self.start: float | None = None
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start

    def __str__(self) -> str:
        return f"{self.seconds:.1f} s"


def check_band(
    name: str, value: float, low: float, high: float, chapter: str | None = None
) -> None:
    """Print whether `value` lies in [low, high]; record it for `make run` when asked to.

    The printed line holds the band and the verdict, not the value itself, so that it
    is the same on every machine and nbval can compare it exactly. It returns None, so a
    notebook cell that ends with it shows nothing but that line. The record is strict JSON:
    a NaN or infinite number is written as null. Every chapter.
    """
    if chapter is not None:
        _check_chapter(chapter)
    ok = bool(low <= value <= high)
    print(f"{name} in [{low}, {high}]: {ok}")
    results_dir = os.environ.get("NLPBOOK_RESULTS")
    if results_dir and chapter:
        path = Path(results_dir) / f"{chapter}.json"
        records = _read_results(path)
        record = {"value": value, "low": low, "high": high}
        records[name] = {**{k: _json_number(v) for k, v in record.items()}, "ok": ok}
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomically(path, json.dumps(records, indent=1, allow_nan=False))
    # In a `# NBVAL_IGNORE_OUTPUT` cell nbval does not compare the line: fail as `check` does.
    if not ok and os.environ.get(STRICT_CHECKS_ENV) == "1":
        raise CheckFailed(f"{name} = {value!r} not in [{low}, {high}]")


STRICT_CHECKS_ENV = "NLPBOOK_STRICT_CHECKS"


class CheckFailed(AssertionError):
    """A notebook check that failed while NLPBOOK_STRICT_CHECKS=1 (make test, CI). Every chapter."""


def check(claim: str, ok: bool, detail: str = "") -> None:
    """Print one readable line for a claim the chapter makes: `✓ claim`, or `✗ claim (detail)`.

    The check lives in the cell that computes its number, whose other output may vary by seed
    and machine (nbval ignores it). So a failure must not rely on nbval comparing text: under
    NLPBOOK_STRICT_CHECKS=1 (set by make test and CI) it raises CheckFailed, which nbval reports
    in any cell. A student's run prints the ✗ line and goes on. Every chapter.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim must be a non-empty sentence, not {claim!r}")
    if bool(ok):
        print(f"✓ {claim}")
        return
    line = f"✗ {claim}" + (f" ({detail})" if detail else "")
    print(line)
    if os.environ.get(STRICT_CHECKS_ENV) == "1":
        raise CheckFailed(line)


def _check_chapter(chapter: str) -> None:
    """A chapter names a results file inside $NLPBOOK_RESULTS: no folders, no '..'."""
    if not isinstance(chapter, str) or not re.fullmatch(r"\w[\w.-]*", chapter):
        raise ValueError(
            f"chapter must be a plain name such as '03' (letters, digits, '_', '.', '-'), "
            f"not {chapter!r}"
        )


def _json_number(x: float) -> float | None:
    """`x` as a JSON number (NumPy and torch scalars too); NaN and +-inf, which JSON has no
    number for, become null."""
    x = float(x)
    return x if math.isfinite(x) else None


def _read_results(path: Path) -> dict:
    """The records in a results file; an unreadable one (say, half-written) is started afresh."""
    if not path.exists():
        return {}
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        records = None
    if not isinstance(records, dict):
        warnings.warn(f"{path} is not valid JSON of band results; starting it afresh", stacklevel=3)
        return {}
    return records
