"""Chapter 01's committed outputs validate under another seed, thread count and floating-point path.

`make test-portable` does this for every chapter (minutes); this test does it for the chapter that
runs in seconds, on every CI run: nbval with NLPBOOK_SEED=3, two threads, and MKL / oneDNN forced
onto other kernels (MKL_CBWR=COMPATIBLE, ONEDNN_MAX_CPU_ISA=SSE41), which is how another processor
computes. It fails when a cell that prints a seed-dependent number loses its NBVAL_IGNORE_OUTPUT.

One nbval process checks both notebooks (the chapter, and the copy whose seed-dependent cell is
compared), so the two tests pay for one pytest start; the copy stops after that cell, the last one
its check needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "01_logistic_regression.ipynb"
OTHER_MACHINE = {"NLPBOOK_SEED": "3", "OMP_NUM_THREADS": "2", "MKL_CBWR": "COMPATIBLE",
                 "ONEDNN_MAX_CPU_ISA": "SSE41"}
# How the two threads wait between parallel regions, not what they compute: an idle OpenMP thread
# sleeps instead of spinning. Under `make unit` the other worker holds one of two cores, and two
# spinning threads on the one left made chapter 01's training cell about 5 s instead of 0.3 s.
WAIT_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}


def run_nbval(notebooks: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess:
    # rootdir: the folder above them all, so that every cell's id names its notebook's folder
    top = os.path.commonpath([ROOT, *notebooks])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "--color=no", "-p", "no:cacheprovider",
         f"--rootdir={top}", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), *map(str, notebooks)],
        cwd=ROOT, env={**os.environ, "NLPBOOK_PROFILE": "quick", **env}, capture_output=True, text=True,
        timeout=600,
    )


def compared_draw(tmp_path: Path) -> Path:
    """Chapter 01 up to the cell that draws the starting weights, with that cell's ignore marker
    removed: the draw is then compared, and seed 3 draws others than the committed seed 0."""
    notebook = json.loads(CHAPTER.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    drawn = [i for i, c in enumerate(cells)
             if c["cell_type"] == "code" and "w_start = torch.randn" in "".join(c["source"])]
    assert len(drawn) == 1, "chapter 01 has no single cell that draws w_start"
    cell = cells[drawn[0]]
    assert cell["source"][0] == "# NBVAL_IGNORE_OUTPUT\n", "the draw is not compared"
    cell["source"] = cell["source"][1:]
    notebook["cells"] = cells[: drawn[0] + 1]
    copy = tmp_path / "compared_draw" / CHAPTER.name
    copy.parent.mkdir()
    copy.write_text(json.dumps(notebook), encoding="utf-8")
    return copy


def outcomes(stdout: str, notebook: Path) -> list[str]:
    """PASSED/FAILED/... of each of `notebook`'s cells, from pytest's -rA summary."""
    name = f"{notebook.parent.name}/{notebook.name}::"
    return [line.split()[0] for line in stdout.splitlines()
            if line.split(" ", 1)[0].isupper() and name in line]


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    copy = compared_draw(tmp_path_factory.mktemp("portable"))
    result = run_nbval([CHAPTER, copy], OTHER_MACHINE | WAIT_POLICY)
    return result, {CHAPTER: outcomes(result.stdout, CHAPTER), "copy": outcomes(result.stdout, copy)}


def test_chapter_01_validates_with_another_seed_threads_and_kernels(checked):
    result, seen = checked
    assert "PASSED" in seen[CHAPTER], result.stdout[-4000:]  # its cells were collected and run
    assert not {"FAILED", "ERROR"} & set(seen[CHAPTER]), result.stdout[-4000:]


def test_the_check_fails_when_a_seed_dependent_cell_is_compared(checked):
    result, seen = checked
    assert seen["copy"].count("FAILED") == 1, result.stdout[-2000:]
    assert result.returncode != 0
