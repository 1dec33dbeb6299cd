"""A lock file that keeps two processes from writing one dataset at once (chapters 02-05).

The operating system's lock (flock, or msvcrt on Windows) is dropped when its process dies,
so a crash never leaves a dataset locked. `nlpbook.data` takes one per dataset.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from nlpbook.data_errors import is_storage_error
from nlpbook.registry import DatasetSpec

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


def _try_lock(fd: int) -> bool:
    """Lock the open file `fd` exclusively; False if another process holds the lock."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except (BlockingIOError, PermissionError):  # PermissionError: Windows's "locked"
        return False
    return True


def _is_same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


@contextmanager
def file_lock(path: Path, waiting: str = "") -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created, and removed on release).

    Another process holding it is waited for (printing `waiting` once). The operating
    system drops the lock of a killed process, so a crash never leaves it held; a lock
    file left by one is simply taken over. Chapters 02-05 (two notebooks fetching one
    dataset at once).
    """
    announced = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # The previous holder removes the file before unlocking: a lock won on a
            # removed file guards nothing, so open the path again.
            locked = _try_lock(fd) and _is_same_file(fd, path)
        except BaseException:
            os.close(fd)
            raise
        if locked:
            break
        os.close(fd)
        if waiting and not announced:
            print(waiting, file=sys.stderr, flush=True)
            announced = True
        time.sleep(0.2)
    try:
        yield
    finally:
        if fcntl is not None:  # POSIX: remove, then unlock (see above)
            path.unlink(missing_ok=True)
            os.close(fd)
        else:  # Windows cannot remove an open file; a waiter that holds it open keeps it
            os.close(fd)
            with suppress(OSError):
                path.unlink(missing_ok=True)


@contextmanager
def dataset_lock(root: Path, spec: DatasetSpec) -> Iterator[None]:
    """Hold the dataset's lock in `root` (two notebooks fetching it wait for each other),
    then remove what a killed run left: the `.part` files of its sources.

    A root that cannot hold the lock file (read-only, or a file) cannot be written at
    all, so there is nothing to guard: the dataset is then read from the mirrors unlocked.
    Chapters 02-05 (through `data.fetch` and `data.stage`).
    """
    with ExitStack() as stack:
        try:
            root.mkdir(parents=True, exist_ok=True)
            waiting = f"waiting for another process that is fetching {spec.name!r} into {root}"
            stack.enter_context(file_lock(root / f".{spec.name}.lock", waiting))
        except OSError as e:
            if not is_storage_error(e):
                raise
        else:
            for source in spec.sources:  # only the lock holder writes them: these are stale
                (root / (source.filename + ".part")).unlink(missing_ok=True)
        yield
