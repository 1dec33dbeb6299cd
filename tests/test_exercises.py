"""The exercises (issue 21): for every chapter with a source in exercises/source, the committed
student version is what scripts/exercises.py generates; it carries no solution and no hidden test;
grading a folder with the solutions, the untouched student version and a broken file gives full
marks, zeros (each stub fails a hidden test) and zeros with a note; the Colab cell makes
grader.check work where otter cannot read the notebook file. Each chapter is graded once (two
notebook runs): about 15-40 s a chapter on a 2-core machine."""

from __future__ import annotations

import ast
import builtins
import csv
import json
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import exercises  # noqa: E402

SOURCES = exercises.sources()
MIN_QUESTIONS = 4


def text(cell: dict) -> str:
    return "".join(cell["source"])


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def solution_lines(source: Path) -> set[str]:
    """What otter must strip: lines inside # BEGIN/END SOLUTION in code, right-hand sides of
    `# SOLUTION` lines, markdown model answers between raw BEGIN/END SOLUTION cells; less any
    line that also occurs elsewhere in the source (a prompt or a test may share a line)."""
    answer, other, in_block = [], [], False
    for cell in load(source)["cells"]:
        body = text(cell)
        if cell["cell_type"] == "raw":
            in_block = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(
                body.strip(), in_block
            )
        elif cell["cell_type"] == "markdown":
            (answer if in_block else other).extend(body.splitlines())
        elif cell["cell_type"] == "code":
            inside = False
            for line in body.splitlines():
                if line.strip() in ("# BEGIN SOLUTION", "# END SOLUTION"):
                    inside = line.strip() == "# BEGIN SOLUTION"
                elif inside:
                    answer.append(line)
                elif line.rstrip().endswith("# SOLUTION"):
                    answer.append(line.split("=", 1)[1].rsplit("#", 1)[0])
                else:
                    other.append(line)
    other_lines = {line.strip() for line in other}
    return {line.strip() for line in answer if line.strip()} - other_lines - {"..."}


def student_lines(nb: dict) -> set[str]:
    """Every line a student gets: the cells and the public tests in the metadata."""
    texts = [text(c) for c in nb["cells"]] + list(nb["metadata"]["otter"]["tests"].values())
    return {line.strip() for t in texts for line in t.splitlines()}


@pytest.fixture(scope="module", params=SOURCES, ids=[p.stem for p in SOURCES])
def graded(request, tmp_path_factory) -> dict:
    """One chapter graded from a folder: its solutions, its student version, a broken file."""
    source: Path = request.param
    folder = tmp_path_factory.mktemp(source.stem)
    assigned = exercises.otter_assign(source, tmp_path_factory.mktemp("assigned"), run_tests=False)
    solutions = (assigned / "autograder" / source.name).read_text(encoding="utf-8")
    (folder / "solved.ipynb").write_text(solutions, encoding="utf-8")
    student = (exercises.STUDENT_DIR / source.name).read_text(encoding="utf-8")
    (folder / "unsolved.ipynb").write_text(student, encoding="utf-8")
    (folder / "broken.ipynb").write_text("{ not a notebook", encoding="utf-8")
    out = folder / "scores" / "scores.csv"
    results = exercises.grade_folder(folder, source, out)
    with out.open(newline="", encoding="utf-8") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    return {"source": source, "results": results, "rows": rows}


def test_sources_are_named_after_their_chapters():
    stems = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert SOURCES, "no exercise sources in exercises/source"
    for source in SOURCES:
        assert source.stem in stems, f"{source.name}: name it after its chapter in notebooks/"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_student_version_is_in_step(source: Path):
    committed = exercises.STUDENT_DIR / source.name
    assert committed.exists(), f"{committed.name} missing: run make exercises"
    assert committed.read_text(encoding="utf-8") == exercises.build_student(source), (
        f"exercises/{source.name} is out of step with its source: run make exercises"
    )


def test_no_student_version_without_a_source():
    students = {p.name for p in exercises.STUDENT_DIR.glob("[0-9][0-9]_*.ipynb")}
    assert students == {p.name for p in SOURCES}


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_student_version_has_no_solutions_or_hidden_tests(source: Path):
    student_nb = load(exercises.STUDENT_DIR / source.name)
    leaked = solution_lines(source) & student_lines(student_nb)
    assert not leaked, f"solution text in the student version: {sorted(leaked)}"
    student = json.dumps(student_nb, ensure_ascii=False)
    assert "hidden=True" not in student, "a hidden test in the student's metadata"
    for marker in ("BEGIN SOLUTION", "BEGIN TESTS", "BEGIN TEST CONFIG"):
        assert marker not in student, f"{marker} left in the student version"
    public = student_nb["metadata"]["otter"]["tests"]
    assert set(public) and all("hidden=False" in test for test in public.values())


def test_solution_lines_are_found():
    """The leak check above sees the solutions it must look for (else it could never fail)."""
    for source in SOURCES:
        assert solution_lines(source), f"{source.name}: no solution text found"


def test_solutions_get_full_marks(graded):
    row, results = graded["rows"]["solved.ipynb"], graded["results"]["solved.ipynb"]
    assert row["note"] == ""
    assert float(row["total"]) == float(row["possible"]) > 0
    for name in results.test_files:
        for case in results.get_result(name).test_case_results:
            hidden = "hidden" if case.test_case.hidden else "public"
            assert case.passed, f"{name}: the solution fails a {hidden} test\n{case.message}"


def test_each_chapter_has_enough_auto_checked_questions(graded):
    results = graded["results"]["solved.ipynb"]
    questions = [q for q in results.test_files if results.get_result(q).possible > 0]
    assert questions == [f"q{i}" for i in range(1, len(questions) + 1)], "name them q1, q2, ..."
    assert len(questions) >= MIN_QUESTIONS, f"{graded['source'].name}: {questions}"


def test_every_stub_fails_a_hidden_test_and_scores_zero(graded):
    row, results = graded["rows"]["unsolved.ipynb"], graded["results"]["unsolved.ipynb"]
    for name in results.test_files:
        cases = results.get_result(name).test_case_results
        assert any(c.test_case.hidden and not c.passed for c in cases), f"{name}: no hidden fail"
        assert any(c.test_case.hidden for c in cases), f"{name}: no hidden test"
        assert float(row[name]) == 0, f"{name}: the untouched stub earns points"
    assert float(row["total"]) == 0


def test_a_broken_submission_gets_zeros_and_a_note(graded):
    row = graded["rows"]["broken.ipynb"]
    assert float(row["total"]) == 0 and row["note"].startswith("not graded")
    assert list(graded["rows"]) == ["broken.ipynb", "solved.ipynb", "unsolved.ipynb"]


def test_grade_rejects_a_missing_folder_and_chapter(tmp_path: Path):
    with pytest.raises(SystemExit, match="no .ipynb submissions"):
        exercises.grade_folder(tmp_path, SOURCES[0], tmp_path / "scores.csv")
    with pytest.raises(SystemExit, match="--chapter 99: no exercise source"):
        exercises.source_for("99")
    assert not (tmp_path / "scores.csv").exists()


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_colab_cell_lets_grader_check_run(source: Path, tmp_path: Path, monkeypatch):
    """In Colab otter cannot read the notebook's metadata; the setup cell downloads the notebook
    and writes its public tests to tests/. Colab and the download are simulated here."""
    import otter
    import otter.check.utils as otter_utils

    committed = exercises.STUDENT_DIR / source.name
    cells = load(committed)["cells"]
    setup = next(c for c in cells if text(c).startswith(exercises.SETUP_FIRST_LINE))
    assert setup["metadata"]["tags"] == ["otter_ignore"], "the autograder must skip it"
    init = next(c for c in cells if text(c).startswith(exercises.OTTER_INIT_FIRST_LINE))
    assert cells.index(setup) + 1 == cells.index(init), "the setup cell runs before otter's"

    class Colab:
        def __str__(self) -> str:
            return "<google.colab._shell.Shell>"

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(otter_utils, "get_ipython", Colab)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    with pytest.raises(ValueError, match="Tests directory ./tests does not exist"):
        otter.Notebook(source.name)  # what a student in Colab would get without the cell

    urls = []

    def urlopen(url):
        urls.append(url)
        return committed.open("rb")

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    exec(compile(text(setup), "setup", "exec"), {"__name__": "__main__"})
    assert urls == [
        f"https://raw.githubusercontent.com/nlpbook/nlpbook/main/exercises/{source.name}"
    ]
    grader = otter.Notebook(source.name)
    result = grader.check("q1", global_env={})  # nothing answered: the public q1 tests fail
    assert result.possible > 0 and result.score == 0


def test_badge_links_to_the_student_version():
    for source in SOURCES:
        title = text(load(exercises.STUDENT_DIR / source.name)["cells"][0])
        assert re.search(rf"\]\({re.escape(exercises.colab_link(source.name))}\)", title)
        assert exercises.colab_link(source.name).endswith(f"/blob/main/exercises/{source.name}")


def free_names(function: ast.FunctionDef) -> set[str]:
    """Names `function` reads but neither receives, imports, assigns nor defines (builtins aside)."""
    bound = set()
    for node in ast.walk(function):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    read = {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return read - bound - set(dir(builtins))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_checks_use_only_what_they_import_or_receive(source: Path):
    # otter runs a check function with its parameters only: a name from the notebook's setup
    # cell (say `nn`) works when the cell is run by hand and is a NameError under grading
    problems = []
    for cell in load(source)["cells"]:
        if cell["cell_type"] != "code" or "def test_" not in text(cell):
            continue
        for node in ast.parse(text(cell)).body:
            if isinstance(node, ast.FunctionDef) and free_names(node):
                problems.append(f"{node.name}: {sorted(free_names(node))}")
    assert not problems, f"{source.name}: checks read names they neither import nor receive: {problems}"
