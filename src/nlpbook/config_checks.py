"""Checks of what a checkpoint stores, before anything is built from it. Chapters 02-05.

`check_plain`: the config and extra settings hold plain values only (no code to unpickle, no
container that contains itself). `check_config`: each config value has the type its dataclass
field declares and lies in the range its name implies, so a bad file gives an error naming the
key instead of a raw torch error deep inside a model's constructor.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing

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
