"""Seeding, devices, profiles, timing and the band checks the notebooks print.

Introduced in chapter 01 and used by every chapter.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

PROFILES = ("quick", "full")


def set_seed(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed python, numpy and torch; return a torch.Generator for DataLoader shuffling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        # warn_only: a few CUDA kernels have no deterministic version; we still want to run.
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def get_device(name: str | None = None) -> torch.device:
    """The device to train on: `name`, else $NLPBOOK_DEVICE, else CUDA if available, else CPU."""
    name = name or os.environ.get("NLPBOOK_DEVICE")
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} was asked for, but CUDA is not available here")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def get_profile() -> str:
    """The run profile from $NLPBOOK_PROFILE: 'quick' (default, CPU, minutes) or 'full'."""
    profile = os.environ.get("NLPBOOK_PROFILE", "quick").strip().lower() or "quick"
    if profile not in PROFILES:
        raise ValueError(
            f"NLPBOOK_PROFILE={profile!r} is not a profile; use one of {', '.join(PROFILES)}"
        )
    return profile


def count_parameters(model: torch.nn.Module) -> int:
    """The number of trainable parameters of a model. Chapters 03 and 04 print it."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class Timer:
    """A context manager that measures wall time: ``with Timer() as t: ...; t.seconds``."""

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
) -> bool:
    """Print whether `value` lies in [low, high]; record it for `make run` when asked to.

    The printed line holds the band and the verdict, not the value itself, so that it
    is the same on every machine and nbval can compare it exactly. It returns None, so a
    notebook cell that ends with it shows nothing but that line.
    """
    ok = bool(low <= value <= high)
    print(f"{name} in [{low}, {high}]: {ok}")
    results_dir = os.environ.get("NLPBOOK_RESULTS")
    if results_dir and chapter:
        path = Path(results_dir) / f"{chapter}.json"
        records = _read_results(path)
        records[name] = {"value": float(value), "low": low, "high": high, "ok": ok}
        _write_atomically(path, json.dumps(records, indent=1))


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


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
