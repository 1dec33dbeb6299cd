"""The package's shape (issue 31): laid out by audience, not by line count.

At the top of `src/nlpbook` sits what the notebooks import, short modules a student reads; the
plumbing a student never reads lives in `nlpbook.data`, the diagnostics in `nlpbook.doctor`
(see ARCHITECTURE.md). The tests below keep it so."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nlpbook"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SUBPACKAGES = {"models", "data"}  # lesson models; the data plumbing
NOT_LESSON = {"__init__.py", "__main__.py", "doctor.py"}  # the package, its CLI, the doctor
TOP = sorted(p for p in PACKAGE.glob("*.py") if p.name not in NOT_LESSON)
LESSON = TOP + sorted((PACKAGE / "models").glob("*.py"))
# Read top to bottom by a student, so short. Figure code is exempt: one function per figure,
# read one at a time, and the chapters keep adding figures.
MAX_LINES = 400
LONG_ALLOWED = {"plots.py", "diagrams.py"}
CHAPTER = re.compile(r"\b(chapters? \d\d|every chapter)", re.IGNORECASE)


def imported_modules(source: str) -> set[str]:
    """The top-level nlpbook modules that `source` imports (`from nlpbook import a, b`,
    `from nlpbook.a import x`, `import nlpbook.a`)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] != "nlpbook":
                continue
            if len(parts) == 1:
                found |= {alias.name for alias in node.names}
            else:
                found.add(parts[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("nlpbook.")}
    return found


def notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            code = "".join(cell["source"])
            # IPython magics and shell lines are not Python
            lines += [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def test_the_top_level_holds_the_lesson_modules_models_data_and_the_doctor():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == SUBPACKAGES, "plumbing goes into nlpbook.data, models into nlpbook.models"
    assert (PACKAGE / "doctor.py").is_file() and (PACKAGE / "data" / "__init__.py").is_file()


def test_every_top_level_module_is_read_by_a_notebook():
    """Imported by a notebook, or by a top-level module that a notebook imports."""
    assert NOTEBOOKS, "no notebooks found"
    reached = set().union(*(imported_modules(notebook_source(nb)) for nb in NOTEBOOKS))
    frontier = set(reached)
    while frontier:
        name = frontier.pop()
        path = PACKAGE / f"{name}.py"
        if path.is_file():
            new = imported_modules(path.read_text(encoding="utf-8")) - reached
            reached |= new
            frontier |= new
    unread = [p.name for p in TOP if p.stem not in reached]
    assert not unread, f"no notebook reads {unread}: move them into nlpbook.data (plumbing)"


@pytest.mark.parametrize("path", TOP, ids=lambda p: p.name)
def test_top_level_modules_are_short_enough_to_read(path):
    if path.name in LONG_ALLOWED:
        pytest.skip("figure code: one function per figure")
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; a student reads it top to bottom"


@pytest.mark.parametrize("path", LESSON, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lesson_definitions_say_which_chapter_introduces_them(path):
    """d2l's rule, for the code a student reads; chapter tags on plumbing tell a reader nothing."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    missing = [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        and not node.name.startswith("_")
        and not CHAPTER.search(ast.get_docstring(node) or "")
    ]
    assert not missing, f"{path.name}: no docstring naming a chapter for {missing}"


def test_there_is_one_training_loop():
    fits = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name == "fit"
    ]
    assert fits == ["train.py"], fits


def test_no_re_exports():
    """A name is imported where it is used, not re-exported for others (`noqa: F401`)."""
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "noqa: F401" in path.read_text(encoding="utf-8")
    ]
    assert not offenders, offenders


def test_nothing_cites_a_file_outside_the_repository():
    """DESIGN.md lives outside the repository; ARCHITECTURE.md is the map inside it."""
    citing = [
        str(path.relative_to(ROOT))
        for folder in ("src", "tests", "scripts")
        for path in (ROOT / folder).rglob("*.py")
        if "DESIGN.md" in path.read_text(encoding="utf-8") and path != Path(__file__)
    ]
    assert not citing, citing
    assert (ROOT / "ARCHITECTURE.md").is_file()
