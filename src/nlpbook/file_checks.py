"""Whether a dataset's files on disk are there and intact: presence and checksums.

Chapters 02-05 verify every download and every mirror copy with these.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from nlpbook.data_errors import ChecksumError

CHUNK = 1 << 20  # bytes hashed at a time


def is_complete(path: Path, files: Iterable[str]) -> bool:
    """Whether `path` exists and holds every one of `files` (paths inside it). Chapters 02-05."""
    return path.exists() and all((path / f).exists() for f in files)


def file_checksum(path: Path, algorithm: str) -> str:
    """The hex digest of a file, read in chunks. Chapters 02-05."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, checksum: str) -> None:
    """Raise ChecksumError unless `path` has `checksum` ("sha256:<hex>" or "md5:<hex>").

    Chapters 02-05.
    """
    algorithm, _, expected = checksum.partition(":")
    actual = file_checksum(path, algorithm)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path} has {algorithm} {actual}, expected {expected}: the file is corrupt or "
            "not the one the registry names"
        )
