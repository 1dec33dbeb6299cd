"""The lock (requirements/lock.txt, lock-book.txt) covers what pyproject.toml asks for, so
`make setup` installs pinned versions only: a dependency added without `make lock` fails here."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("==", 1) for line in lines if line and not line.startswith("#")]
    return {canonical(name): version for name, version in pairs}


def test_every_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = pins(ROOT / "requirements" / "lock.txt")
    book = pins(ROOT / "requirements" / "lock-book.txt")
    extras = project["optional-dependencies"]
    for group, locked in (("", base), ("dev", base), ("book", {**base, **book})):
        for spec in project["dependencies"] if not group else extras[group]:
            req = Requirement(spec)
            name = canonical(req.name)
            assert name in locked, (
                f"{req.name} ({group or 'base'}) is not in the lock: run make lock"
            )
            assert req.specifier.contains(locked[name], prereleases=True), (
                f"{req.name}=={locked[name]} in the lock is outside {req.specifier}: run make lock"
            )


def test_lock_is_cpu_and_leaves_torch_to_torch_spec():
    base = pins(ROOT / "requirements" / "lock.txt")
    assert base["torch"] == "2.13.0", "the version that produced the committed outputs"
    assert not any(name.startswith(("nvidia-", "triton")) for name in base), "CPU build only"
    assert not set(base) & set(pins(ROOT / "requirements" / "lock-book.txt")), "no package twice"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "grep -v '^torch==' $(LOCK)" in makefile, "make setup drops the torch pin for TORCH_SPEC"
