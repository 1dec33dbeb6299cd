"""Safe archive extraction: .tar.* and .zip members land inside the target or not at all.

Extraction goes through a temporary directory beside the destination and is moved into
place, so an interrupted run leaves nothing half-written. `nlpbook.data` extracts the
datasets of every chapter (01-05) with it, `nlpbook.staging` reuses `temp_dir` and
`move_tree`, and `nlpbook.datasets` reads a .tar.* IMDb with ARCHIVE_ERRORS.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

from nlpbook.data_errors import DataError

# What a truncated or corrupt archive raises while it is read (gzip's is an OSError).
ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
)


# Top-level folders that archives carry but that are never data: macOS's resource-fork
# copies (`__MACOSX/`, in SNLI's zip). They are left in the temporary directory.
NOT_DATA = {"__MACOSX"}


class UnsafeArchiveError(DataError):
    """An archive member would be written outside the extraction directory. Chapters 02-05."""


def _check_zip_members(archive: zipfile.ZipFile, target: Path) -> None:
    root = target.resolve()
    for name in archive.namelist():
        path = (root / name).resolve()
        if (
            name.startswith(("/", "\\"))
            or ".." in Path(name).parts
            or not path.is_relative_to(root)
        ):
            raise UnsafeArchiveError(f"refusing to extract {name!r}: it would escape {target}")


def move_tree(src: Path, dest: Path) -> None:
    """Move `src` to `dest`: one rename if `dest` is new, else file by file (never overwrite).

    Chapters 02-05.
    """
    if not dest.exists():
        os.replace(src, dest)
        return
    for path in sorted(src.rglob("*")):
        out = dest / path.relative_to(src)
        if path.is_dir():
            out.mkdir(exist_ok=True)
        elif not out.exists():
            os.replace(path, out)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def temp_dir(parent: Path, prefix: str) -> Path:
    """A new `<prefix><pid>-*` directory in `parent`, after removing those of dead processes.

    A process killed mid-extraction cannot clean up after itself; the pid in the name
    tells the next run which temporary directories nobody is still writing to. Chapters 02-05.
    """
    for old in parent.glob(prefix + "*"):
        pid = old.name[len(prefix) :].split("-", 1)[0]
        if old.is_dir() and not (pid.isdigit() and _pid_alive(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))


def extract(archive: Path, dest_dir: Path) -> list[Path]:
    """Extract a .tar.* or .zip archive safely into `dest_dir`; return the top-level paths.

    Members go to a temporary directory beside the destination first, then are renamed
    into place, so an interrupted extraction leaves nothing half-written; the temporary
    directories of interrupted runs are removed on the next one. A top-level `__MACOSX/`
    is not moved into `dest_dir`. Chapters 02-05.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(dest_dir, ".extract-")
    try:
        try:
            _extract_into(archive, tmp)
        except ARCHIVE_ERRORS as e:
            raise DataError(f"{archive} is damaged (a truncated or corrupt archive: {e})") from e
        tops = sorted(t for t in tmp.iterdir() if t.name not in NOT_DATA)
        for top in tops:
            move_tree(top, dest_dir / top.name)
        return [dest_dir / top.name for top in tops]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract_into(archive: Path, tmp: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _check_zip_members(zf, tmp)
            zf.extractall(tmp)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            try:
                tf.extractall(tmp, filter="data")
            except tarfile.FilterError as e:
                raise UnsafeArchiveError(f"refusing to extract {archive.name}: {e}") from e
    else:
        raise DataError(f"{archive} is neither a zip nor a tar archive")
