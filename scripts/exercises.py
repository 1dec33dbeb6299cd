"""Exercises: student versions, the instructor pack and grading, all through otter-grader.

    python scripts/exercises.py student [--check]        # exercises/NN_x.ipynb from exercises/source/
    python scripts/exercises.py instructor [--out DIR]   # build/instructor/: solutions, autograders
    python scripts/exercises.py grade DIR --chapter NN --out scores.csv

Each chapter has one instructor source, exercises/source/NN_x.ipynb, in otter-assign format
(questions, solutions, public and hidden tests; tests live in the notebook's metadata).
`otter assign` turns it into a student notebook (solutions stubbed with `...`, hidden tests
removed) and an autograder zip (every test). The committed student versions get a Colab badge, a
first cell that installs nlpbook and otter-grader where they are missing, and cell ids that do not
change between runs, so tests/test_exercises.py can check they are in step with their sources.
Grading runs otter's containerless runner (`otter.api.grade_submission`, what `otter run` does):
no Docker, the current environment, one submission after the other.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from colab_cells import BADGE_IMAGE, default_ref, repository_url  # noqa: E402

SOURCES = ROOT / "exercises" / "source"
STUDENT_DIR = ROOT / "exercises"
OTTER_SPEC = "otter-grader==7.0.0"
OTTER_INIT_FIRST_LINE = "# Initialize Otter"
SETUP_FIRST_LINE = "# Colab, or Jupyter without this repository: install nlpbook and otter-grader."

# Colab does not give otter the notebook file, whose metadata holds the public checks, so there the
# cell downloads this notebook and writes its checks to tests/, where otter looks first. Tagged
# otter_ignore: the autograder skips it.
SETUP_CELL = """{first_line}
# NLPBOOK_PIP_SOURCE installs nlpbook from elsewhere instead (a local checkout, a fork).
import os
import sys

try:
    import otter  # noqa: F401

    import nlpbook  # noqa: F401
except ImportError:
    _source = os.environ.get("NLPBOOK_PIP_SOURCE", "git+{repo}@{ref}")
    get_ipython().run_line_magic("pip", f"install -q {otter_spec} {{_source}}")
if "google.colab" in sys.modules:
    import json
    import urllib.request

    with urllib.request.urlopen("{raw_url}") as _response:
        _notebook = json.load(_response)
    with open("{name}", "w", encoding="utf-8") as _file:
        json.dump(_notebook, _file)
    os.makedirs("tests", exist_ok=True)
    for _question, _test in _notebook["metadata"]["otter"]["tests"].items():
        with open(f"tests/{{_question}}.py", "w", encoding="utf-8") as _file:
            _file.write(_test)
"""


def sources() -> list[Path]:
    """The instructor sources, one per chapter, in chapter order."""
    return sorted(SOURCES.glob("[0-9][0-9]_*.ipynb"))


def source_for(chapter: str) -> Path:
    """The source of chapter `chapter` ('01' or '1'); a clear error if there is none."""
    matches = [p for p in sources() if p.name.startswith(f"{int(chapter):02d}_")]
    if len(matches) != 1:
        known = ", ".join(p.name[:2] for p in sources()) or "none"
        raise SystemExit(
            f"--chapter {chapter}: no exercise source for it in {SOURCES} (have: {known})"
        )
    return matches[0]


def otter_assign(source: Path, out: Path, run_tests: bool) -> Path:
    """Run otter assign into `out`; return it. With run_tests the solutions must score 100%."""
    from otter.assign import main as assign

    logging.getLogger("otter").setLevel(logging.WARNING)
    assign(str(source), str(out), no_pdfs=True, no_run_tests=not run_tests)
    return out


def autograder_zip(assigned: Path) -> Path:
    """The autograder zip otter assign wrote (its name carries a timestamp)."""
    (zip_path,) = (assigned / "autograder").glob("*-autograder_*.zip")
    return zip_path


def colab_link(name: str) -> str:
    owner_name = re.sub(r"^https://github\.com/", "", repository_url())
    return f"https://colab.research.google.com/github/{owner_name}/blob/main/exercises/{name}"


def badge(name: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_link(name)})"


def setup_cell(name: str) -> dict:
    repo = repository_url()
    raw_url = repo.replace("https://github.com/", "https://raw.githubusercontent.com/")
    source = SETUP_CELL.format(
        first_line=SETUP_FIRST_LINE,
        repo=repo,
        ref=default_ref(),
        otter_spec=OTTER_SPEC,
        raw_url=f"{raw_url}/main/exercises/{name}",
        name=name,
    )
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": ["otter_ignore"]},
        "outputs": [],
        "source": source.rstrip("\n").splitlines(keepends=True),
    }


def _text(cell: dict) -> str:
    return "".join(cell["source"])


def _is_install_cell(cell: dict) -> bool:
    """An install cell a source may carry (ours or a chapter-style one): replaced by ours."""
    text = _text(cell)
    return cell["cell_type"] == "code" and ("%pip" in text or 'run_line_magic("pip"' in text)


def student_version(nb: dict, name: str) -> dict:
    """otter's student notebook, reordered: title (with badge), setup cell, otter's init cell."""
    cells = nb["cells"]
    init = next(c for c in cells if _text(c).startswith(OTTER_INIT_FIRST_LINE))
    rest = [c for c in cells if c is not init and not _is_install_cell(c)]
    title = next(c for c in rest if c["cell_type"] == "markdown")
    head, _, body = _text(title).partition("\n")
    body = "\n".join(line for line in body.splitlines() if BADGE_IMAGE not in line).lstrip("\n")
    title["source"] = f"{head}\n\n{badge(name)}\n\n{body}".rstrip("\n").splitlines(keepends=True)
    index = rest.index(title) + 1
    nb["cells"] = rest[:index] + [setup_cell(name), init] + rest[index:]
    for i, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{i:03d}"  # otter draws random ids; fixed ones keep the files in step
    return nb


def render(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def build_student(source: Path) -> str:
    """The committed student version of one source, as text."""
    with tempfile.TemporaryDirectory() as tmp:
        assigned = otter_assign(source, Path(tmp) / "out", run_tests=False)
        nb = json.loads((assigned / "student" / source.name).read_text(encoding="utf-8"))
    return render(student_version(nb, source.name))


def cmd_student(args: argparse.Namespace) -> int:
    stale = []
    for source in sources():
        target = STUDENT_DIR / source.name
        text = build_student(source)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(target)
        if not args.check:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if args.check and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"out of step with exercises/source: {names}; run make exercises", file=sys.stderr)
        return 1
    return 0


GRADING_MD = """# Grading the nlpbook exercises

This pack was built by `make instructor` (`scripts/exercises.py instructor`). For each chapter:

- `NN_x/solutions.ipynb`: the worked solutions with every public and hidden check (they pass all of
  them: the build fails otherwise), and model answers to the discussion questions;
- `NN_x/autograder.zip`: otter-grader's autograder for that chapter (all checks, hidden included);
- the student version to hand out is `exercises/NN_x.ipynb` in the repository (also linked from the
  chapter's exercises section and the book, with an "Open in Colab" badge).

Assign: give students the student notebook. They run `grader.check("q1")` cells for instant feedback
from the public checks. Collect: the submitted `.ipynb` files (one per student) into one folder;
the file name becomes the row name. Grade (no Docker; in this repository's environment):

    make grade SUBMISSIONS=path/to/folder CHAPTER=01 SCORES=scores.csv

writes one CSV row per submission: each question's score, the total, the points possible and a note
(a submission that cannot be read or run gets zeros and the reason, and the batch goes on). Otter
re-executes each notebook from the top with the hidden checks; discussion questions are not scored
(grade them by hand against the model answers in `solutions.ipynb`).

Time: grading 30 submissions of chapter 01 (15 solved, 15 untouched) with `scripts/exercises.py
grade` took 4 min 4 s of wall time on this project's idle 2-core AMD EPYC (one thread; measured
2026-11-30), 232 s of CPU time (about 8 s a notebook, mostly starting a kernel and importing
torch) and at most 419 MB of memory. Grading runs one notebook after another.
"""


def cmd_instructor(args: argparse.Namespace) -> int:
    """Built next to `out` and renamed at the end: a failing chapter leaves no half pack."""
    out: Path = args.out
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    for source in sources():
        chapter = part / source.stem
        with tempfile.TemporaryDirectory() as tmp:
            assigned = otter_assign(source, Path(tmp) / "out", run_tests=True)
            chapter.mkdir()
            shutil.copy(assigned / "autograder" / source.name, chapter / "solutions.ipynb")
            shutil.copy(autograder_zip(assigned), chapter / "autograder.zip")
        print(f"{source.stem}: solutions pass every check")
    (part / "GRADING.md").write_text(GRADING_MD, encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    part.rename(out)
    print(f"wrote {out}")
    return 0


def grade_one(submission: Path, zip_path: Path):
    """otter's GradingResults (None if it could not grade) and a note ('' when the notebook ran)."""
    from otter.api import grade_submission

    try:
        results = grade_submission(str(submission), str(zip_path), quiet=True)
    except Exception as error:  # a broken file, another chapter's notebook, ...
        return None, f"not graded: {type(error).__name__}: {error}".splitlines()[0]
    error = results.catastrophic_error
    return results, (f"failed to run: {error}".splitlines()[0] if error else "")


def score_row(name: str, results, note: str, possible: dict[str, float]) -> dict:
    """One CSV row: each question's score (0 where otter has none), the total, the note."""
    scores = {q: float(results.get_result(q).score) for q in results.test_files} if results else {}
    row = {"submission": name} | {q: scores.get(q, 0.0) for q in possible}
    row |= {"total": sum(row[q] for q in possible), "possible": sum(possible.values())}
    return row | {"note": note}


def grade_folder(folder: Path, source: Path, out_csv: Path) -> dict:
    """Grade every .ipynb in `folder` with `source`'s hidden checks into `out_csv`, one after
    the other; return otter's results by submission name (None where it could not grade)."""
    submissions = sorted(folder.glob("*.ipynb"))
    if not submissions:
        raise SystemExit(f"{folder}: no .ipynb submissions to grade")
    with tempfile.TemporaryDirectory() as tmp:
        assigned = otter_assign(source, Path(tmp) / "out", run_tests=False)
        possible = _points_possible(assigned / "autograder" / source.name)
        graded, rows = {}, []
        for submission in submissions:
            results, note = grade_one(submission, autograder_zip(assigned))
            graded[submission.name] = results
            rows.append(score_row(submission.name, results, note, possible))
            print(
                f"{submission.name}: {rows[-1]['total']:g} / {rows[-1]['possible']:g} {note}".rstrip()
            )
    _write_csv(out_csv, rows, ["submission", *possible, "total", "possible", "note"])
    return graded


def _points_possible(solutions: Path) -> dict[str, float]:
    """Question name -> points, from the tests otter stored in the notebook's metadata."""
    tests = json.loads(solutions.read_text(encoding="utf-8"))["metadata"]["otter"]["tests"]
    points = {}
    for name, text in tests.items():
        match = re.search(r"^points = ([0-9.]+)$", text, re.M)
        points[name] = float(match.group(1)) if match else 0.0
    return dict(sorted(points.items(), key=lambda item: int(item[0].lstrip("q"))))


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    """Written to a temporary name and renamed, so no half-written table is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with part.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    part.replace(path)


def cmd_grade(args: argparse.Namespace) -> int:
    if not args.submissions.is_dir():
        raise SystemExit(f"{args.submissions}: not a folder of submitted notebooks")
    grade_folder(args.submissions, source_for(args.chapter), args.out)
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write exercises/NN_x.ipynb from the sources")
    student.add_argument("--check", action="store_true", help="exit 1 if any is out of step")
    student.set_defaults(run=cmd_student)
    instructor = commands.add_parser("instructor", help="solutions and autograders")
    instructor.add_argument("--out", type=Path, default=ROOT / "build" / "instructor")
    instructor.set_defaults(run=cmd_instructor)
    grade = commands.add_parser("grade", help="grade a folder of submissions into a CSV")
    grade.add_argument("submissions", type=Path, help="a folder of submitted .ipynb files")
    grade.add_argument("--chapter", required=True, help="the chapter number, e.g. 01")
    grade.add_argument("--out", type=Path, default=Path("scores.csv"), help="the CSV to write")
    grade.set_defaults(run=cmd_grade)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
