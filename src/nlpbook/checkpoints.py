"""Checkpoints: one file per trained model, loadable without unpickling code. Chapters 02-05.

A checkpoint holds the model's weights, `asdict(model.config)` (every chapter's model takes a
config dataclass and names it in its class attribute `config_class`), the vocabulary's tokens
and a dict of `extra` plain settings (how the text was prepared, say). `load(path, Model)`
rebuilds the model, checking the weights against the config on PyTorch's meta device before
any memory is allocated; before that, `check_config` checks each config value against the type
its dataclass field declares (and a range its name implies), and `load` checks that the
vocabulary has as many tokens as the embedding has rows: each error names the file and the key.

Files of the first format (`nlpbook-checkpoint-1`, before models took config dataclasses) no
longer load: run the chapter again to save them anew.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing
import zipfile
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from nlpbook.data.disk import save_atomically
from nlpbook.text import Vocab

FORMAT = "nlpbook-checkpoint-2"


class Checkpoint(NamedTuple):
    """What `load_checkpoint` reads: weights, vocab, the model's config dict, extra settings.

    Chapters 02-05.
    """

    state: dict
    vocab: Vocab | None
    config: dict
    extra: dict
    model: str  # the class name of the model that was saved


def config_of(model: nn.Module) -> dict:
    """`asdict(model.config)`: the plain dict that rebuilds `model`'s shape. Chapters 02-05."""
    config = getattr(model, "config", None)
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(
            f"{type(model).__name__} has no config dataclass in `.config`; "
            "a checkpoint rebuilds a model from one"
        )
    for f in dataclasses.fields(config):  # before asdict, which recurses into a cycle
        check_plain(getattr(config, f.name), f"config.{f.name}")
    return dataclasses.asdict(config)


def save_checkpoint(
    path: str | Path, model: nn.Module, vocab: Vocab | None = None, extra: dict | None = None
) -> Path:
    """Save weights, `asdict(model.config)`, the vocab and `extra` in one file, atomically.

    The file loads with `torch.load(..., weights_only=True)`: no pickled code. Chapters 02-05.
    """
    config = config_of(model)
    check_plain(extra or {}, "extra")
    vocab_size = config.get("vocab_size")
    if vocab is not None and vocab_size is not None and vocab_size != len(vocab):
        raise ValueError(f"the model has {vocab_size} vocabulary rows, the vocab {len(vocab)}")
    path = Path(path)
    if not path.is_dir():  # save_atomically refuses a directory with a clear message
        path.parent.mkdir(parents=True, exist_ok=True)
    bundle = {
        "format": FORMAT,
        "model": type(model).__name__,
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "vocab": list(vocab.itos) if vocab is not None else None,
        "config": config,
        "extra": dict(extra or {}),
    }
    return save_atomically(path, lambda tmp: _torch_save(bundle, tmp), "model.pt")


def _torch_save(bundle: dict, tmp: Path) -> None:
    try:
        torch.save(bundle, tmp)
    except RuntimeError as e:  # how torch's zip writer reports a full disk
        reason = (str(e).strip().splitlines() or [""])[0][:160]
        raise OSError(f"is the disk full? {reason}") from e


def load(path: str | Path, model_class: type[nn.Module]) -> tuple[nn.Module, Vocab | None, dict]:
    """Rebuild a saved model: (model in eval mode, vocab, extra settings). Chapters 02-05."""
    checkpoint = load_checkpoint(path)
    if checkpoint.model != model_class.__name__:
        raise ValueError(f"{path} holds a {checkpoint.model}, not a {model_class.__name__}")
    try:
        model = restore(model_class, checkpoint.state, checkpoint.config)
        _check_vocab_fits(checkpoint.vocab, checkpoint.config)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return model.eval(), checkpoint.vocab, checkpoint.extra


def _check_vocab_fits(vocab: Vocab | None, config: dict) -> None:
    """The vocabulary must have as many tokens as the embedding has rows (`vocab_size`), as
    `save_checkpoint` requires: a larger one would map words to ids the model has no row for."""
    rows = config.get("vocab_size")
    if vocab is not None and rows is not None and len(vocab) != rows:
        raise ValueError(
            f"the vocabulary has {len(vocab)} tokens but config key 'vocab_size' (the "
            f"embedding's rows) is {rows}; the two were not saved together"
        )


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint saved by `save_checkpoint` without building the model. Chapters 02-05.

    The archive's CRCs are checked first (`torch.load` does not check them), so damaged
    bytes are an error rather than silently wrong weights; then the bundle's structure.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    _check_archive(path)
    try:
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a crafted archive fails inside torch in many ways (EOFError, ...)
        reason = (str(e).strip().splitlines() or [""])[0][:160]
        raise ValueError(
            f"{path} is damaged or not an nlpbook checkpoint ({type(e).__name__}: {reason})"
        ) from None
    return _unpack(bundle, path)


def _check_archive(path: Path) -> None:
    """Raise ValueError unless `path` is a zip archive whose every member passes its CRC."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ValueError(
            f"{path} is damaged (truncated or not a checkpoint archive: {e}); save it again"
        ) from None
    if bad is not None:
        raise ValueError(f"{path} is damaged: {bad} fails its CRC check; save it again")


def _unpack(bundle: object, path: Path) -> Checkpoint:
    """Check a loaded bundle's structure and return it as a `Checkpoint`."""
    if isinstance(bundle, dict) and bundle.get("format") == "nlpbook-checkpoint-1":
        raise ValueError(
            f"{path} was saved by an older nlpbook (format 1); run its chapter again to save it anew"
        )
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValueError(f"{path} is not an nlpbook checkpoint")
    state, tokens, config, extra, model = (
        bundle.get(k) for k in ("model_state", "vocab", "config", "extra", "model")
    )
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path}: model_state must map parameter names to tensors")
    for key, t in state.items():
        _check_storage(t, key, path)
    if tokens is not None and not (
        isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)
    ):
        raise ValueError(f"{path}: vocab must be a list of token strings")
    for name, value in (("config", config), ("extra", extra)):
        if not isinstance(value, dict):
            raise ValueError(f"{path}: {name} must be a dict, not {type(value).__name__}")
        try:
            check_plain(value, name)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from None
    if not isinstance(model, str):
        raise ValueError(f"{path}: model must name the saved model's class")
    try:
        vocab = Vocab(tokens) if tokens is not None else None
    except ValueError as e:
        raise ValueError(f"{path}: vocab is not valid: {e}") from None
    return Checkpoint(state, vocab, config, extra, model)


def _check_storage(t: torch.Tensor, key: str, path: Path) -> None:
    """Refuse a tensor whose storage holds fewer elements than its shape: an expanded
    (stride 0) or overlapping view, which `load_state_dict` would materialise at full size
    (a 5 KB file asking for gigabytes)."""
    stored, needed = t.untyped_storage().nbytes(), t.numel() * t.element_size()
    if stored < needed or (not t.is_contiguous() and _overlaps(t)):
        raise ValueError(
            f"{path}: {key} of shape {tuple(t.shape)} is an expanded or overlapping view "
            f"({stored:,} bytes of storage for {needed:,} bytes of values); "
            "not a checkpoint that save_checkpoint wrote"
        )


def _overlaps(t: torch.Tensor) -> bool:
    """Whether `t`'s strides may map two elements to one place: sorted, each stride must
    step past everything the smaller ones reach (what every saved state tensor satisfies)."""
    reach = 1
    for stride, size in sorted((st, s) for s, st in zip(t.shape, t.stride(), strict=True) if s > 1):
        if stride < reach:
            return True
        reach += (size - 1) * stride
    return False


def _state_problems(own: dict, state: dict) -> list[str]:
    """What keeps `state` from loading into a model whose state_dict is `own`."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if own[k].shape != state[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    if mismatched:
        problems.append("shape mismatch " + "; ".join(mismatched))
    return problems


def _check_fits(model: nn.Module, state: dict) -> None:
    problems = _state_problems(model.state_dict(), state)
    if problems:
        raise ValueError(
            "the checkpoint does not match this model (was it built with the same config?): "
            + ", ".join(problems)
        )


def load_state(model: nn.Module, state: dict) -> nn.Module:
    """Load weights into `model`, with a clear error when they do not match its shape.

    Chapters 02-05.
    """
    _check_fits(model, state)
    model.load_state_dict(state)
    return model


def build(model_class: type[nn.Module], config: dict) -> nn.Module:
    """`model_class(model_class.config_class(**config))`, with a clear error for a bad config.

    Chapters 02-05.
    """
    config_class = getattr(model_class, "config_class", None)
    if config_class is None:
        raise TypeError(f"{model_class.__name__} names no config_class; it cannot be rebuilt")
    check_config(config_class, config)
    try:
        return model_class(config_class(**config))
    except TypeError as e:  # unknown or missing fields
        raise ValueError(f"the config does not fit {config_class.__name__}: {e}") from None


def restore(model_class: type[nn.Module], state: dict, config: dict) -> nn.Module:
    """A `model_class` built from `config` with `state` loaded, its shapes checked first.

    The model is first built on PyTorch's meta device (shapes only, no storage), so a config
    that does not match the weights (say a crafted `vocab_size` of 2e9) is a clear error
    instead of a huge allocation. Chapters 02-05.
    """
    with torch.device("meta"):
        skeleton = build(model_class, config)
    _check_fits(skeleton, state)
    return load_state(build(model_class, config), state)


# ---------------------------------------------------------------- what a checkpoint may hold
# `check_plain`: the config and extra settings hold plain values only (no code to unpickle, no
# container that contains itself). `check_config`: each config value has the type its dataclass
# field declares and lies in the range its name implies, so a bad file gives an error naming the
# key instead of a raw torch error deep inside a model's constructor.

_PLAIN = (str, int, float, bool, type(None))


def check_plain(value, where: str, _outer: tuple[int, ...] = ()) -> None:
    """Raise TypeError unless `value` is plain (nested dicts, lists, tuples of `_PLAIN`), and
    ValueError where it contains itself (which would recurse without end). `_outer` holds
    the ids of the containers around `value`. Chapters 02-05 (their checkpoints)."""
    if isinstance(value, (dict, list, tuple)):
        if id(value) in _outer:
            raise ValueError(f"{where} contains itself; a checkpoint takes plain values")
        _outer = (*_outer, id(value))
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} keys must be strings, got {k!r}")
            check_plain(v, f"{where}[{k!r}]", _outer)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]", _outer)
    elif not isinstance(value, _PLAIN):
        raise TypeError(f"{where} holds a {type(value).__name__}; a checkpoint takes plain values")


def check_config(config_class: type, config: dict) -> None:
    """Raise ValueError, naming the key, unless each value of `config` has the type its field
    in `config_class` declares and lies in a sane range. Chapters 02-05.

    Types come from the dataclass's annotations (int, float, bool, str, None and unions of
    them; bool is not an int here, an int is a float). Ranges follow the field names that every
    chapter's config uses: an int is a size or count (at least 1) unless its name ends in
    `_index` (an id, 0 to vocab_size - 1); a float is finite, and a `dropout` lies in [0, 1].
    Keys the dataclass does not have are left to `build`'s error."""
    hints = typing.get_type_hints(config_class)
    names = {f.name for f in dataclasses.fields(config_class)}
    for key, value in config.items():
        if key in names and not _has_type(value, hints[key]):
            raise ValueError(
                f"config key {key!r} must be {_type_name(hints[key])}, "
                f"not {type(value).__name__} {reprlib.repr(value)}"
            )
    for key, value in config.items():
        if key in names:
            _check_range(key, value, config)


def _allowed(annotation) -> tuple:
    """The types a field annotated `annotation` takes: its members for a union."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _has_type(value, annotation) -> bool:
    for kind in _allowed(annotation):
        if kind is bool and isinstance(value, bool):
            return True
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind in (str, type(None)) and isinstance(value, kind):
            return True
        if kind not in (bool, int, float, str, type(None)):
            return True  # a type this check does not know: left to the model
    return False


def _type_name(annotation) -> str:
    return " or ".join(getattr(k, "__name__", str(k)) for k in _allowed(annotation))


def _check_range(key: str, value, config: dict) -> None:
    """Raise ValueError when `value` (of the right type) is out of the range `key`'s name implies."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        problem = "must be finite"
    elif key.endswith("_index"):
        rows = config.get("vocab_size")
        rows = rows if isinstance(rows, int) and not isinstance(rows, bool) else None
        inside = value >= 0 and (rows is None or value < rows)
        top = "vocab_size - 1" if rows is None else f"{rows - 1} (vocab_size - 1)"
        problem = None if inside else f"must be an id from 0 to {top}"
    elif key.startswith("dropout"):
        problem = None if 0 <= value <= 1 else "must be a probability, from 0 to 1"
    elif isinstance(value, int):
        problem = None if value >= 1 else "must be at least 1 (a size or count)"
    else:
        problem = None
    if problem:
        raise ValueError(f"config key {key!r} is {value!r}: it {problem}")
