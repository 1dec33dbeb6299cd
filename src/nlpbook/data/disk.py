"""What the data layer does on disk: atomic saves, checksums, safe extraction and staging.

`save_atomically` is the one way the package writes a file (a `.part` beside it, then a rename;
the checkpoints, a Vocab, the band records, the GloVe cache, every download and every staged
copy). `verify` checks a file against the registry's checksum. `extract` unpacks a .tar.* or
.zip archive through a temporary directory, refusing members that would escape it.
`stage_one` copies one dataset from a mirror directory into the data root (`nlpbook.data.stage`,
for `python -m nlpbook.data stage DIR`). `nlpbook.datasets` reads a .tar.* IMDb with
ARCHIVE_ERRORS.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import lzma
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from nlpbook.data.errors import ChecksumError, DataError
from nlpbook.data.registry import DatasetSpec, Source

CHUNK = 1 << 20  # bytes hashed at a time

# ---------------------------------------------------------------- atomic saves


def save_atomically(
    path: str | Path, write: Callable[[Path], None] | str | bytes, example: str = "file"
) -> Path:
    """Save `write` (text, bytes, or a function that writes the file it is given) to a `.part`
    beside `path`, then rename it to `path`.

    A directory target is refused (`example` names a file to save in it instead); on any
    failure, KeyboardInterrupt too, the `.part` is removed, an older file at `path` stays as it
    was, and an OSError names the path and the cause."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; save to a file in it, e.g. {path / example}")
    tmp = path.with_name(path.name + ".part")
    try:
        if isinstance(write, str):
            tmp.write_text(write, encoding="utf-8")
        elif isinstance(write, (bytes, bytearray)):
            tmp.write_bytes(write)
        else:
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


# ---------------------------------------------------------------- checksums


def is_complete(path: Path, files: Iterable[str]) -> bool:
    """Whether `path` exists and holds every one of `files` (paths inside it)."""
    return path.exists() and all((path / f).exists() for f in files)


def file_checksum(path: Path, algorithm: str) -> str:
    """The hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, checksum: str) -> None:
    """Raise ChecksumError unless `path` has `checksum` ("sha256:<hex>" or "md5:<hex>")."""
    algorithm, _, expected = checksum.partition(":")
    actual = file_checksum(path, algorithm)
    if actual != expected.lower():
        raise ChecksumError(
            f"{path} has {algorithm} {actual}, expected {expected}: the file is corrupt or "
            "not the one the registry names"
        )


# ---------------------------------------------------------------- archives

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
    """An archive member would be written outside the extraction directory."""


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
    """Move `src` to `dest`: one rename if `dest` is new, else file by file (never overwrite)."""
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
    tells the next run which temporary directories nobody is still writing to.
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
    is not moved into `dest_dir`.
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


# ---------------------------------------------------------------- staging


def stage_one(spec: DatasetSpec, mirror: Path, root: Path) -> bool:
    """Stage one dataset from `mirror`; False if the mirror does not have it."""
    layout = mirror / spec.target
    archives = [(s, mirror / s.filename) for s in spec.sources if (mirror / s.filename).is_file()]
    problems = []
    if spec.extract and layout.is_dir():
        try:
            _stage_layout(spec, layout, root)
            return True
        except DataError as e:  # an archive beside it may still be good
            problems.append(str(e))
    if not archives and not problems:
        return False
    for source, archive in archives:
        try:
            if spec.extract:
                if not is_complete(root / spec.target, spec.files):
                    verify(archive, source.checksum)
                    extract(archive, root)
                missing = [f for f in spec.files if not (root / spec.target / f).exists()]
                if not missing:
                    return True
                problems.append(f"{archive} does not hold {', '.join(missing)}")
            else:
                _copy_verified(source, archive, root)
                return True
        except DataError as e:
            problems.append(str(e))
    raise DataError("; ".join(problems))


def _stage_layout(spec: DatasetSpec, layout: Path, root: Path) -> None:
    """Copy an extracted layout into the root (never overwriting), then check its files."""
    files = [f for f in spec.files if (layout / f).exists()]  # a mirror may hold a part
    if spec.files and not files:
        raise DataError(f"{layout} has none of {', '.join(spec.files)}")
    if not is_complete(root / spec.target, files):
        _check_links(layout)
        tmp = temp_dir(_mkdir(root), ".stage-")
        try:
            shutil.copytree(layout, tmp / "copy")
            move_tree(tmp / "copy", root / spec.target)
        except shutil.Error as e:  # one line, not the list of every file that failed
            problems = e.args[0] if e.args and isinstance(e.args[0], list) else [("", "", e)]
            source, _, why = problems[0]
            raise DataError(
                f"{layout} could not be copied ({len(problems)} problem(s); the first: "
                f"{source}: {why})"
            ) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if not is_complete(root / spec.target, files):
        raise DataError(f"{root / spec.target} lacks some of {', '.join(files)} after copying")


def _check_links(layout: Path) -> None:
    """Refuse a layout with a symlink loop or a broken symlink before copying anything.

    copytree follows symlinks: a link back to a folder above it would be copied again at
    every level until the path grows too long.
    """
    for folder, dirs, names in os.walk(layout, followlinks=True):
        here = Path(folder)
        real = here.resolve()
        for above in here.relative_to(layout).parents:
            if (layout / above).resolve() == real:
                raise DataError(f"{here} is a symlink loop (it leads back to {layout / above})")
        for name in dirs + names:
            path = here / name
            if path.is_symlink() and not path.exists():
                raise DataError(f"{path} is a broken symlink or a symlink loop")


def _copy_verified(source: Source, archive: Path, root: Path) -> None:
    """Copy a file used in place (a GloVe zip) into the root, atomically; both verified."""
    dest = root / source.filename
    if dest.is_file():
        try:
            verify(dest, source.checksum)
            return
        except ChecksumError:
            pass  # replaced below by the mirror's verified copy
    verify(archive, source.checksum)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(dest, lambda part: shutil.copyfile(archive, part))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
