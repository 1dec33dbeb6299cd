"""Every chapter follows the series' conventions (DESIGN.md): a title with goals and runtime,
the profile switch in the first code cell, explicit imports, a headline band check, exercises,
and committed outputs with no errors. nbval checks the outputs themselves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_conventions(path: Path):
    all_cells = cells(path)
    chapter = path.name[:2]
    title = source(all_cells[0])
    assert all_cells[0]["cell_type"] == "markdown" and title.startswith(f"# Chapter {chapter}"), "title cell"
    assert re.search(r"runtime", title, re.I), "the title cell states the runtime"
    assert re.search(r"learn|goals", title, re.I), "the title cell states the learning goals"
    code = [c for c in all_cells if c["cell_type"] == "code"]
    assert "utils.get_profile()" in source(code[0]), "the first code cell reads NLPBOOK_PROFILE"
    assert not any("import *" in source(c) for c in code), "explicit imports only"
    assert any(f'chapter="{chapter}"' in source(c) for c in code), "a headline check_band for make run"
    markdown = "\n".join(source(c) for c in all_cells if c["cell_type"] == "markdown")
    assert "## Summary" in markdown and "## Exercises" in markdown
    exercises = markdown.split("## Exercises", 1)[1]
    assert len(re.findall(r"^\d+\.", exercises, re.M)) >= 3, "at least three exercises"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_complete_and_in_order(path: Path):
    code = [c for c in cells(path) if c["cell_type"] == "code" and source(c).strip()]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, "every code cell was executed"
    assert counts == sorted(counts) and counts[0] == 1, "executed top to bottom in one run"
    for c in code:
        assert not any(o["output_type"] == "error" for o in c["outputs"]), source(c)[:80]
    assert path.stat().st_size < 5_000_000
