"""scripts/colab_cells.py: the Colab badge and the install-if-missing block, applied to copies
of the chapters (never to notebooks/ itself). The block's install path is run for real in a
fresh venv without nlpbook, with NLPBOOK_PIP_SOURCE pointed at a copy of this checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import colab_cells  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPO = colab_cells.repository_url()


def source(cell: dict) -> str:
    return "".join(cell["source"])


def first(nb: dict, cell_type: str) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == cell_type)


@pytest.fixture
def copies(tmp_path: Path) -> list[Path]:
    out = []
    for path in NOTEBOOKS:
        shutil.copy(path, tmp_path / path.name)
        out.append(tmp_path / path.name)
    return out


def test_repository_url_is_read_from_pyproject():
    assert REPO.startswith("https://github.com/")
    url = colab_cells.colab_url(REPO, "01_x.ipynb")
    assert (
        url
        == f"https://colab.research.google.com/github/{REPO[19:]}/blob/main/notebooks/01_x.ipynb"
    )


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("layout", ["no block", "block inside the first cell"])
def test_the_block_gets_a_cell_of_its_own_and_nothing_else_changes(copies, layout):
    block = colab_cells.install_block(REPO, colab_cells.default_ref()).rstrip("\n")
    for path in copies:
        committed = json.loads(path.read_text(encoding="utf-8"))
        assert source(_code_cells(committed)[0]) == block, "committed: the block is its own cell"
        chapter = [c for c in committed["cells"] if c is not _code_cells(committed)[0]]
        nb = {**committed, "cells": json.loads(json.dumps(chapter))}
        if layout == "block inside the first cell":  # the layout before issue 19
            own = _code_cells(nb)[0]
            own["source"] = block + "\n\n" + source(own)
        path.write_text(colab_cells.dumps(nb), encoding="utf-8")
        assert colab_cells.main([str(path)]) == 0
        after = json.loads(path.read_text(encoding="utf-8"))
        title = source(first(after, "markdown"))
        assert title.count(colab_cells.BADGE_IMAGE) == 1, "exactly one badge"
        assert colab_cells.colab_url(REPO, path.name) in title
        block_cell, own = _code_cells(after)[:2]
        assert source(block_cell) == block and block_cell["outputs"] == []
        assert after["cells"].index(block_cell) + 1 == after["cells"].index(own)
        assert [c for c in after["cells"] if c is not block_cell] == chapter, (
            "the chapter's cells, outputs included, are untouched"
        )
        assert after["metadata"] == committed["metadata"]


def test_idempotent_and_updates_in_place(copies):
    colab_cells.main([str(p) for p in copies])
    once = {p: p.read_bytes() for p in copies}
    assert colab_cells.main(["--check", *map(str, copies)]) == 0
    colab_cells.main([str(p) for p in copies])
    assert {p: p.read_bytes() for p in copies} == once, "a second run changes nothing"
    # A new version replaces the block rather than adding a second one.
    colab_cells.main(["--ref", "v9.9.9", str(copies[0])])
    code = source(first(json.loads(copies[0].read_text(encoding="utf-8")), "code"))
    assert code.count(colab_cells.BLOCK_FIRST_LINE) == 1 and "@v9.9.9" in code
    assert colab_cells.main(["--check", str(copies[0])]) == 1


def block_code() -> str:
    return colab_cells.install_block(REPO, colab_cells.default_ref())


def test_block_prints_nothing_where_nlpbook_is_installed():
    """In the repository's environment the block is silent, so the first cell's output (and
    strict nbval) is what it was."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            "--quick",
            "--no-banner",
            "--colors=nocolor",
            "-c",
            block_code(),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NLPBOOK_PIP_SOURCE": "/nonexistent"},
    )
    assert result.stdout == "" and result.stderr == ""


def test_block_installs_nlpbook_into_a_fresh_venv(tmp_path: Path):
    """The issue's install test: a fresh venv (no system site-packages, no nlpbook) runs the block
    in IPython with NLPBOOK_PIP_SOURCE pointed at a copy of this checkout, then imports nlpbook.
    `import nlpbook` has no side effects and needs no dependency, so the source carries pip's
    --no-deps: the test proves the install path (magic, variable, pip, import) without the
    minutes and gigabytes that torch would cost; `make setup` covers the dependencies."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, checkout / name)
    shutil.copytree(
        ROOT / "src", checkout / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    absent = subprocess.run([python, "-c", "import nlpbook"], capture_output=True, env=clean_env)
    assert absent.returncode != 0, "the fresh venv must not see nlpbook"

    # IPython runs the cell as Jupyter or Colab would (%pip needs a kernel's magics), and the
    # block's %pip needs pip in the venv: this environment's pip installs both there in one call
    # (pip --python), about 4 s less than ensurepip followed by the venv's own pip.
    constraints = tmp_path / "constraints.txt"
    lock = (ROOT / "requirements" / "lock.txt").read_text(encoding="utf-8").splitlines()
    constraints.write_text("\n".join(x for x in lock if not x.startswith("torch==")) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python]
    subprocess.run(
        [*pip, "install", "-q", "-c", constraints, "pip", "ipython"], check=True, env=clean_env
    )

    code = (
        block_code()
        + "\nimport nlpbook\nprint('imported', nlpbook.__version__, nlpbook.__file__)\n"
    )
    result = subprocess.run(
        [env_dir / "bin" / "ipython", "--quick", "--no-banner", "--colors=nocolor", "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean_env, "NLPBOOK_PIP_SOURCE": f"--no-deps {checkout}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = [x for x in result.stdout.splitlines() if x.startswith("imported ")][-1]
    _, version, location = line.split(" ", 2)
    assert version == colab_cells._pyproject()["project"]["version"]
    assert Path(location).is_relative_to(env_dir), location


def test_committed_notebooks_are_up_to_date():
    """Once the chapters carry the badge and block, they stay current (the version, the URL):
    `python scripts/colab_cells.py notebooks/*.ipynb` fixes a failure here."""
    texts = [p.read_text(encoding="utf-8") for p in NOTEBOOKS]
    if not any(colab_cells.BLOCK_FIRST_LINE in t for t in texts):
        pytest.skip("scripts/colab_cells.py has not been applied to notebooks/ yet")
    stale = [
        p.name
        for p in NOTEBOOKS
        if colab_cells.process(p, REPO, colab_cells.default_ref(), check=True)
    ]
    assert not stale, f"run: python scripts/colab_cells.py notebooks/*.ipynb ({stale})"
