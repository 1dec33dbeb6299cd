"""The doctor's checks of Python and the installed packages (every chapter).

The packages are compared with requirements/lock.txt in a source checkout; nlpbook's own
requirements must be installed, and torchtext must not be (it breaks with today's torch).
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
from pathlib import Path

import torch

from nlpbook.doctor_findings import Finding

REPO = Path(__file__).resolve().parents[2]


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
