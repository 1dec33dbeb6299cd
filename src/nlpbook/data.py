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

import hashlib
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from http.client import HTTPException
from pathlib import Path

from tqdm.auto import tqdm

from nlpbook.registry import DatasetSpec, Source, get_spec

CHUNK = 1 << 20


class DataError(RuntimeError):
    """A dataset could not be found, downloaded, verified or extracted."""


class DownloadError(DataError):
    """A download failed (HTTP error, HTML page, truncated body, timeout)."""


class ChecksumError(DataError):
    """A file's checksum does not match the registry."""


class UnsafeArchiveError(DataError):
    """An archive member would be written outside the extraction directory."""


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


# ---------------------------------------------------------------- checksums


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
            "not the one the registry names; delete it and fetch it again"
        )


# ---------------------------------------------------------------- downloads


def _looks_like_html(first_bytes: bytes) -> bool:
    head = first_bytes.lstrip()[:64].lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def _download_once(url: str, part: Path, timeout: float, progress: bool, size: int | None) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "nlpbook"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        content_type = response.headers.get("Content-Type", "")
        if content_type.lower().startswith("text/html"):
            raise DownloadError(
                f"{url} answered with an HTML page ({content_type}), not the file: "
                "the URL may need a login or have moved"
            )
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        received = 0
        with (
            open(part, "wb") as out,
            tqdm(
                total=expected or size,
                unit="B",
                unit_scale=True,
                desc=part.name[:-5],
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(CHUNK):
                if received == 0 and _looks_like_html(chunk):
                    raise DownloadError(f"{url} served an HTML page instead of the file")
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise DownloadError(f"{url}: connection closed after {received} of {expected} bytes")


def download(
    url: str,
    dest: Path,
    checksum: str,
    *,
    size: int | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 2.0,
    progress: bool = True,
) -> Path:
    """Download `url` to `dest` via `dest.part`, verify `checksum`, then rename atomically.

    Transient faults (timeouts, dropped connections, 5xx) are retried; a 4xx, an HTML
    page or a checksum mismatch is not. On failure nothing is left at `dest` or `dest.part`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            _download_once(url, part, timeout, progress, size)
            break
        except urllib.error.HTTPError as e:
            part.unlink(missing_ok=True)
            last_error = e
            if e.code < 500:
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
        except DownloadError as e:
            part.unlink(missing_ok=True)
            last_error = e
            if "HTML" in str(e):
                raise
        except (urllib.error.URLError, HTTPException, OSError, TimeoutError) as e:
            part.unlink(missing_ok=True)
            last_error = e
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if attempt < retries:
            time.sleep(backoff * attempt)
    else:
        raise DownloadError(f"{url}: failed after {retries} attempts: {last_error}") from last_error
    try:
        verify(part, checksum)
    except ChecksumError as e:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"downloaded from {url}, but {e}") from None
    os.replace(part, dest)
    return dest


# ---------------------------------------------------------------- extraction


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


def _move_tree(src: Path, dest: Path) -> None:
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


def extract(archive: Path, dest_dir: Path) -> list[Path]:
    """Extract a .tar.* or .zip archive safely into `dest_dir`; return the top-level paths.

    Members go to a temporary directory beside the destination first, then are renamed
    into place, so an interrupted extraction leaves nothing half-written.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
    try:
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
        tops = sorted(tmp.iterdir())
        for top in tops:
            _move_tree(top, dest_dir / top.name)
        return [dest_dir / top.name for top in tops]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
                _move_tree(tmp / "copy", root / spec.target)
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
