"""Saving a file so that a failure never leaves half of it: write a `.part`, then rename.

Torch-free, so the data layer may use it too. Chapters 02-05 (checkpoints, `Vocab.save`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path


def save_atomically(path: str | Path, write: Callable[[Path], None], example: str) -> Path:
    """Save through `write(tmp)` to a `.part` beside `path`, then rename. Chapters 02-05.

    A directory target is refused (`example` names a file to save in it instead); on any
    failure, KeyboardInterrupt too, the `.part` is removed, an older file at `path` stays as it
    was, and an OSError names the path and the cause."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; save to a file in it, e.g. {path / example}")
    tmp = path.with_name(path.name + ".part")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):  # name the file; OSError(errno, ...) keeps the subclass
            message = f"could not save {path}: {e.strerror or e}"
            cause = e.__cause__ or e  # the original error where `write` wrapped one (checkpoints)
            raise (OSError(e.errno, message) if e.errno else OSError(message)) from cause
        raise
    return path
