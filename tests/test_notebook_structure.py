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
    assert "utils.get_profile()" in source(code[1]), "the code cell after the install block reads NLPBOOK_PROFILE"
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


# ---------------------------------------------------------------- issue 19: short setup, no unchecked copies

PACKAGE = Path(__file__).parents[1] / "src" / "nlpbook"
# Notebook definitions that share a name with the package but are not copies of it.
NOT_COPIES = {
    ("02", "evaluate"): "the hand-written loop is chapter 02's lesson; train.evaluate generalises it",
    ("02", "predict"): "a one-line wrapper that calls lstm.classify_review, not esim.predict",
    ("03", "tokenize"): "a one-line spaCy helper, not esim.tokenize (NLTK, for SNLI)",
    ("03", "show"): "prints a row of token numbers for the reversal demo, not plots.show",
}


def package_names() -> dict[str, set[str]]:
    """Public top-level function and class names of the package -> the modules defining them."""
    import ast

    names: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                names.setdefault(node.name, set()).add(path.stem)
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cells_are_short(path: Path):
    """The Colab install block is a cell of its own; the config cell fits on a screen."""
    code = [source(c) for c in cells(path) if c["cell_type"] == "code"]
    assert code[0].startswith("# Colab, or Jupyter without this repository") and "import nlpbook" in code[0]
    assert "utils.get_profile()" in code[1], "the second code cell imports and reads the profile"
    assert len(code[0].splitlines()) <= 10 and len(code[1].splitlines()) <= 25
    config = [c for c in code if "utils.pick_config(QUICK, FULL)" in c]
    if any("QUICK" in c for c in code):
        assert len(config) == 1, "the config cell picks its config with utils.pick_config"
        assert len(config[0].splitlines()) <= 25, "the config cell fits on a screen"
    assert not any('os.environ.get("NLPBOOK_SMOKE")' in c for c in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_unchecked_copies_of_package_code(path: Path):
    """A function or class typed into a notebook under a package name is proven equal to the
    package's in the next few code cells (`module.name` used in a comparison there)."""
    names = package_names()
    code = [source(c) for c in cells(path) if c["cell_type"] == "code"]
    unchecked = []
    for k, src in enumerate(code):
        for name in re.findall(r"^(?:def|class) (\w+)", src, re.M):
            if name not in names or (path.name[:2], name) in NOT_COPIES:
                continue
            after = "\n".join(code[k : k + 4])
            proven = any(
                re.search(rf"\b{module}\.{name}\b", after) for module in names[name]
            ) and re.search(r"torch\.equal|allclose|==|same", after)
            if not proven:
                unchecked.append(name)
    assert not unchecked, f"typed copies of package code with no check against it: {unchecked}"
