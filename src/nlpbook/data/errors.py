"""The data errors a chapter may see, and which local-disk faults are final.

Everything in `nlpbook.data` raises these; each message names the file and the cause.
"""

from __future__ import annotations

import errno
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class DataError(RuntimeError):
    """A dataset could not be found, downloaded, verified or extracted."""


class DownloadError(DataError):
    """A download failed (HTTP error, HTML page, truncated body, timeout).

    `retry` says whether another attempt at the same URL may succeed: an HTML page or a
    malformed header will not change, so `download` goes straight on to the next URL.
    """

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class ChecksumError(DataError):
    """A file's checksum does not match the registry."""


# A local file system that cannot take the write: full, read-only, or a file in the way.
_STORAGE_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EEXIST,
    errno.ENOTDIR,
    errno.EISDIR,
}


def is_storage_error(error: BaseException) -> bool:
    """Whether `error` comes from the local disk (not the network): retrying will not help."""
    return (
        isinstance(error, OSError)
        and not isinstance(error, urllib.error.URLError)
        and error.errno in _STORAGE_ERRNOS
    )


@contextmanager
def data_root_errors(root: Path) -> Iterator[None]:
    """Turn a full, read-only or misplaced data root into a DataError naming the setting."""
    try:
        yield
    except OSError as e:
        if not is_storage_error(e):
            raise
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            problem = f"there is no space left for the data root {root}"
        elif e.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            problem = f"the data root {root} is not a directory (a file is in the way)"
        else:
            problem = f"the data root {root} is not writable"
        raise DataError(
            f"{problem}: {e.strerror} ({e.filename or root}). Nothing half-written was kept. "
            "Set NLPBOOK_DATA to a writable directory with enough free space, or fix this one."
        ) from e
