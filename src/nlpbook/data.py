"""Find, download, verify and extract datasets into the data root.

Resolution order for a dataset (see DESIGN.md, Data):
  1. its extracted layout in the data root;
  2. its archive in the data root (checksum verified, then extracted);
  3. the same two in each mirror directory (read-only; archives are extracted into the root);
  4. a download over HTTPS into the data root (checksum verified, then extracted);
  5. a clear error naming the file, the URL and the settings that point elsewhere.

Settings: $NLPBOOK_DATA (the data root) and $NLPBOOK_MIRROR (read-only directories,
separated by os.pathsep). Introduced in chapter 01; every chapter reads through it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from nlpbook.files import (  # noqa: F401  (re-exported: data.download, data.extract, ...)
    ChecksumError,
    DataError,
    DownloadError,
    UnsafeArchiveError,
    download,
    extract,
    file_checksum,
    move_tree,
    verify,
)
from nlpbook.registry import DatasetSpec, Source, get_spec


def data_root() -> Path:
    """The data root: $NLPBOOK_DATA, else `data/` at the repository root."""
    env = os.environ.get("NLPBOOK_DATA")
    if env:
        return Path(env).expanduser().resolve()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.home() / "nlpbook_data"


def mirror_dirs() -> list[Path]:
    """The read-only mirror directories from $NLPBOOK_MIRROR (os.pathsep-separated)."""
    raw = os.environ.get("NLPBOOK_MIRROR", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


# ---------------------------------------------------------------- resolution


def _complete(path: Path, files: Iterable[str]) -> bool:
    return path.exists() and all((path / f).exists() for f in files)


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

    for base in [root, *mirrors]:
        target = base / spec.target
        if spec.extract and _complete(target, need):
            return target
        for source in spec.sources:
            archive = base / source.filename
            if archive.is_file():
                path = _from_archive(spec, source, archive, root)
                if not spec.extract or _complete(path, need):
                    return archive if not spec.extract else path

    urls = [(s, u) for s in spec.sources for u in s.urls]
    errors = []
    if download_ok:
        for source, url in urls:
            try:
                archive = download(
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
            path = _from_archive(spec, source, archive, root)
            if not spec.extract or _complete(path, need):
                return archive if not spec.extract else path
            errors.append(f"{archive.name} does not contain {', '.join(need)}")

    looked = ", ".join(str(p) for p in [root, *mirrors])
    where = "; ".join(f"{s.filename} from {u}" for s, u in urls) or "no public URL"
    detail = ("\n  " + "\n  ".join(errors)) if errors else ""
    raise DataError(
        f"dataset {name!r} ({spec.target}{' with ' + ', '.join(need) if need else ''}) "
        f"was not found in {looked}.\n"
        f"Canonical source: {where}.{detail}\n"
        "Set NLPBOOK_DATA to a data root that has it, or NLPBOOK_MIRROR to directories "
        "holding the archive or its extracted layout (see data/README.md)."
    )


def stage(mirror: Path, root: Path | None = None, names: Iterable[str] | None = None) -> list[str]:
    """Copy or extract what a mirror directory holds into the data root; return the names staged.

    Used by `.ci/run` and by instructors preparing a lab without internet.
    """
    from nlpbook.registry import REGISTRY

    root = Path(root) if root is not None else data_root()
    mirror = Path(mirror)
    staged = []
    for name in names or REGISTRY:
        spec = get_spec(name)
        present = mirror / spec.target
        archives = [
            (s, mirror / s.filename) for s in spec.sources if (mirror / s.filename).is_file()
        ]
        if (root / spec.target).exists():
            staged.append(name)
        elif spec.extract and present.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=".stage-", dir=_mkdir(root)))
            try:
                shutil.copytree(present, tmp / "copy")
                move_tree(tmp / "copy", root / spec.target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            staged.append(name)
        elif archives:
            source, archive = archives[0]
            if spec.extract:
                _from_archive(spec, source, archive, root)
            else:
                verify(archive, source.checksum)
                dest = root / source.filename
                dest.parent.mkdir(parents=True, exist_ok=True)
                part = dest.with_name(dest.name + ".part")
                shutil.copyfile(archive, part)
                os.replace(part, dest)
            staged.append(name)
    return staged


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    import argparse

    from nlpbook.registry import REGISTRY

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
    except (DataError, KeyError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
