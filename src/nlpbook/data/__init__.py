"""Find, download, verify and extract datasets into the data root: the plumbing under the
chapters, which see one name of it, `data.data_root()` (see ARCHITECTURE.md).

Resolution order for a dataset:
  1. its extracted layout in the data root;
  2. its archive in the data root (checksum verified, then extracted);
  3. the same two in each mirror directory (read-only; archives are extracted into the root);
  4. a download over HTTPS into the data root (checksum verified, then extracted);
  5. a clear error naming the file, the URL and the settings that point elsewhere.
Steps 2-4 hold a lock file in the data root (`.<dataset>.lock`, `filelock`): two processes
fetching one dataset wait for each other instead of writing one `.part`, and the holder
removes the `.part` files a killed run left.

Settings: $NLPBOOK_DATA (the data root) and $NLPBOOK_MIRROR (read-only directories,
separated by os.pathsep). `stage` copies a whole mirror into the data root (one dataset at
a time, `disk.stage_one`); `fetch_profile` fetches what a profile needs; `main` is
`python -m nlpbook.data`. The modules: `registry` (what exists and where), `download`,
`disk` (atomic saves, checksums, archives, staging), `errors`, `glove_files`.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import filelock

from nlpbook.data import download
from nlpbook.data.disk import extract, is_complete, stage_one, verify
from nlpbook.data.errors import (
    ChecksumError,
    DataError,
    DownloadError,
    data_root_errors,
    is_storage_error,
)
from nlpbook.data.registry import REGISTRY, DatasetSpec, Source, get_spec

__all__ = [
    "REGISTRY",
    "ChecksumError",
    "DataError",
    "DownloadError",
    "data_root",
    "dataset_lock",
    "fetch",
    "fetch_profile",
    "main",
    "mirror_dirs",
    "stage",
]


def data_root() -> Path:
    """The data root: $NLPBOOK_DATA, else `data/` at the repository root."""
    env = os.environ.get("NLPBOOK_DATA")
    if env:
        return Path(env).expanduser().resolve()
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.home() / "nlpbook_data"


def mirror_dirs() -> list[Path]:
    """The read-only mirror directories from $NLPBOOK_MIRROR (os.pathsep-separated)."""
    raw = os.environ.get("NLPBOOK_MIRROR", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


# The last line of every "dataset missing or damaged" message, in every chapter.
DOCTOR_HINT = (
    "Run `python -m nlpbook doctor` for a report of the data root, the mirrors and which "
    "datasets are present and verified."
)


# ---------------------------------------------------------------- the lock


@contextmanager
def dataset_lock(root: Path, spec: DatasetSpec) -> Iterator[None]:
    """Hold the dataset's lock in `root` (two notebooks fetching it wait for each other, and
    say so once), then remove what a killed run left: the `.part` files of its sources.

    The operating system drops the lock of a killed process, so a crash never leaves it held.
    A root that cannot hold the lock file (read-only, or a file) cannot be written at all, so
    there is nothing to guard: the dataset is then read from the mirrors unlocked.
    """
    held = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(root / f".{spec.name}.lock")
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            print(
                f"waiting for another process that is fetching {spec.name!r} into {root}",
                file=sys.stderr,
                flush=True,
            )
            lock.acquire()
        held = lock
    except OSError as e:
        if not is_storage_error(e):
            raise
    try:
        for source in spec.sources if held else ():  # only the holder writes them: stale
            (root / (source.filename + ".part")).unlink(missing_ok=True)
        yield
    finally:
        if held:
            held.release()


# ---------------------------------------------------------------- resolution


def _from_archive(spec: DatasetSpec, source: Source, archive: Path, root: Path) -> Path:
    verify(archive, source.checksum)
    if spec.extract:
        extract(archive, root)
    return root / spec.target


def fetch(
    name: str,
    need: Sequence[str] | None = None,
    *,
    root: Path | None = None,
    mirrors: Sequence[Path] | None = None,
    download_ok: bool = True,
    timeout: float = 30.0,
    retries: int = 3,
    progress: bool = True,
) -> Path:
    """Return the local path of dataset `name`, fetching it if needed (see module docstring).

    `need` lists paths inside the extracted layout that must exist (default: all of the
    registry's `files`), e.g. ``fetch("snli", need=["snli_1.0_dev.jsonl"])``.
    """
    spec = get_spec(name)
    root = Path(root) if root is not None else data_root()
    mirrors = list(mirrors) if mirrors is not None else mirror_dirs()
    need = list(spec.files if need is None else need)
    if spec.extract and is_complete(root / spec.target, need):
        return root / spec.target  # the common case: no lock needed to read
    errors: list[str] = []  # every source that failed, for the final message
    urls = [(s, u) for s in spec.sources for u in s.urls]
    with data_root_errors(root), dataset_lock(root, spec):
        for base in [root, *mirrors]:
            target = base / spec.target
            if spec.extract and is_complete(target, need):
                return target  # perhaps just written by the process we waited for
            for source in spec.sources:
                archive = base / source.filename
                if archive.is_file():
                    found = _try_archive(spec, source, archive, root, need, errors)
                    if found is not None:
                        return found

        for source, url in urls if download_ok else []:
            try:
                archive = download.download(
                    url,
                    root / source.filename,
                    source.checksum,
                    size=source.size,
                    timeout=timeout,
                    retries=retries,
                    progress=progress,
                )
            except DataError as e:
                errors.append(str(e))
                continue
            found = _try_archive(spec, source, archive, root, need, errors)
            if found is not None:
                return found

    looked = ", ".join(str(p) for p in [root, *mirrors])
    where = "; ".join(f"{s.filename} from {u}" for s, u in urls) or "no public URL"
    detail = ("\n  " + "\n  ".join(errors)) if errors else ""
    raise DataError(
        f"dataset {name!r} ({spec.target}{' with ' + ', '.join(need) if need else ''}) "
        f"was not found in {looked}.\n"
        f"Canonical source: {where}.{detail}\n"
        "Set NLPBOOK_DATA to a data root that has it, or NLPBOOK_MIRROR to directories "
        "holding the archive or its extracted layout (see data/README.md). A damaged file "
        "in the data root can be deleted; mirrors are read-only, so fix them at their source.\n"
        + DOCTOR_HINT
    )


def _try_archive(
    spec: DatasetSpec, source: Source, archive: Path, root: Path, need: list[str], errors: list
) -> Path | None:
    """The dataset's path from `archive`, or None (with the reason in `errors`) to go on."""
    try:
        path = _from_archive(spec, source, archive, root)
    except DataError as e:  # damaged: one bad copy must not hide the good ones after it
        warnings.warn(f"skipping {archive}: {e}", stacklevel=3)
        errors.append(f"skipped {archive}: {e}")
        return None
    if not spec.extract:
        return archive
    if is_complete(path, need):
        return path
    errors.append(f"{archive} does not contain {', '.join(need)}")
    return None


def stage(mirror: Path, root: Path | None = None, names: Iterable[str] | None = None) -> list[str]:
    """Copy or extract what a mirror directory holds into the data root; return the names staged.

    A dataset counts as staged only when its files are present in the data root afterwards.
    A damaged dataset does not stop the others: they are staged, then a DataError lists
    what failed. A mirror that holds none of the registry's datasets is an error too.
    Used by `.ci/run` and by instructors preparing a lab without internet.
    """
    root = Path(root) if root is not None else data_root()
    mirror = Path(mirror)
    if not mirror.is_dir():
        raise DataError(f"{mirror} is not a directory; give the mirror directory to stage from")
    staged, errors = [], []
    with data_root_errors(root):
        for name in names or REGISTRY:
            try:
                spec = get_spec(name)
                with dataset_lock(root, spec):
                    if stage_one(spec, mirror, root):
                        staged.append(name)
            except DataError as e:
                errors.append(f"{name}: {e}")
    if errors:
        raise DataError(
            f"staged into {root}: {', '.join(staged) or 'nothing'}; these failed:\n  "
            + "\n  ".join(errors)
            + "\n"
            + DOCTOR_HINT
        )
    if not staged:
        wanted = sorted({s.target for s in REGISTRY.values()})
        raise DataError(
            f"{mirror} holds none of the registry's datasets (looked for {', '.join(wanted)} "
            "and their archives); nothing was staged"
        )
    return staged


# What each profile reads: (dataset, needed files); alternatives separated by "|".
PROFILE_NEEDS = {
    "quick": [
        ("imdb", None),
        ("snli", ("snli_1.0_dev.jsonl", "snli_1.0_test.jsonl")),
        ("amazon_polarity_sample|amazon_polarity", None),
    ],
    "full": [
        ("imdb", None),
        ("snli", None),
        ("amazon_polarity", None),
        ("glove.6B", None),
        ("glove.840B.300d", None),
    ],
}


def fetch_profile(profile: str) -> dict[str, Path]:
    """Fetch every dataset a profile needs; the first alternative that resolves wins."""
    if profile not in PROFILE_NEEDS:
        raise ValueError(f"unknown profile {profile!r}; choose {' or '.join(PROFILE_NEEDS)}")
    found = {}
    for names, need in PROFILE_NEEDS[profile]:
        errors = []
        for name in names.split("|"):
            try:
                found[name] = fetch(name, need)
                break
            except DataError as e:
                errors.append(str(e))
        else:
            raise DataError("\n".join(errors))
    return found


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m nlpbook.data {list,stage DIR,fetch NAME..., profile [quick|full]}`."""
    parser = argparse.ArgumentParser(prog="python -m nlpbook.data", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registry")
    p_stage = sub.add_parser("stage", help="copy/extract a mirror directory into the data root")
    p_stage.add_argument("mirror", type=Path)
    p_fetch = sub.add_parser("fetch", help="fetch datasets by name")
    p_fetch.add_argument("names", nargs="+")
    p_prof = sub.add_parser("profile", help="fetch everything a profile needs")
    p_prof.add_argument("profile", nargs="?", default=os.environ.get("NLPBOOK_PROFILE", "quick"))
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for spec in REGISTRY.values():
                print(f"{spec.name:24} {spec.target:32} {spec.description}")
        elif args.command == "stage":
            staged = stage(args.mirror)
            print(f"staged into {data_root()}: {', '.join(staged) or 'nothing'}")
        elif args.command == "fetch":
            for name in args.names:
                print(f"{name}: {fetch(name)}")
        else:
            for name, path in fetch_profile(args.profile).items():
                print(f"{name}: {path}")
    except (DataError, KeyError, ValueError, OSError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e  # KeyError adds quotes
        raise SystemExit(f"error: {message}") from None

