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
Grading (issue 30; GRADING_MD below is the instructor's account of it) runs each submission in a
bubblewrap sandbox, in its own process group with a time limit and a memory cap, checks each question
right after its `grader.check` cell, and appends one CSV row per notebook as it is graded.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

try:  # not needed (nor there) inside the grading sandbox, which runs this file alone
    from colab_cells import BADGE_IMAGE, default_ref, repository_url  # noqa: E402
except ImportError:
    BADGE_IMAGE = None

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


TORCH_PIN = "torch==2.13.0"  # the Makefile's TORCH_SPEC; CPU wheels from PyTorch's index
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
PYTHON_VERSION = "3.11"


def autograder_requirements() -> list[str]:
    """What the autograder zip's environment installs besides otter: CPU torch and nlpbook at
    this release's tag (otter's Docker image and Gradescope build from it)."""
    return [f"--extra-index-url {TORCH_INDEX}", TORCH_PIN,
            f"nlpbook @ git+{repository_url()}@{default_ref()}"]  # fmt: skip


def otter_assign(source: Path, out: Path, run_tests: bool) -> Path:
    """Run otter assign into `out`; return it. With run_tests the solutions must score 100%.
    The source's assignment config gets the autograder's Python and requirements first."""
    from otter.assign import main as assign

    logging.getLogger("otter").setLevel(logging.WARNING)
    nb = json.loads(source.read_text(encoding="utf-8"))
    config = next(c for c in nb["cells"] if _text(c).startswith("# ASSIGNMENT CONFIG"))
    extra = f'python_version: "{PYTHON_VERSION}"\nrequirements:\n' + "".join(
        f"    - {json.dumps(line)}\n" for line in autograder_requirements()
    )
    config["source"] = (_text(config).rstrip("\n") + "\n" + extra).splitlines(keepends=True)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / source.name
        copy.write_text(json.dumps(nb), encoding="utf-8")
        assign(str(copy), str(out), no_pdfs=True, no_run_tests=not run_tests)
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
    nb["nbformat"], nb["nbformat_minor"] = 4, max(5, nb.get("nbformat_minor", 0))  # ids: 4.5
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
- `NN_x/autograder.zip`: otter-grader's autograder for that chapter (all checks, hidden included).
  Its `environment.yml` installs Python 3.11, otter-grader 7.0.0, CPU torch 2.13.0 (PyTorch's CPU
  index) and nlpbook at this release's tag, so `otter grade` (Docker) and Gradescope can run it
  (checked without Docker: a fresh venv built from chapter 01's `environment.yml`, with torch from
  a local wheel and nlpbook from the repository instead of the tag, grades the solutions 10/10 and
  the untouched notebook 0/10 with `otter run -a`; otter's own runner grades at the end of the
  notebook, not at each check, so prefer `make grade` where you can);
- the student version to hand out is `exercises/NN_x.ipynb` in the repository (also linked from the
  chapter's exercises section and the book, with an "Open in Colab" badge).

Assign: give students the student notebook. They run `grader.check("q1")` cells for instant feedback
from the public checks. Collect: the submitted `.ipynb` files (one per student) into one folder;
the file name names the row (rename freely: the score does not depend on it).

## Grade

    make grade SUBMISSIONS=path/to/folder CHAPTER=01 SCORES=scores.csv
    # options: GRADING_FLAGS="--jobs 2 --timeout 180 --memory-mb 4096"

`make grade` installs bubblewrap (`make grade-setup`, Debian/Ubuntu) and grades every notebook in
the folder, in parallel (one notebook per core by default). Each row is appended to the CSV (and
flushed to disk) as soon as its notebook is graded: submission, each question's score, total,
points possible, `flags` (the source scan, below), `note` (why a question or the notebook failed)
and the notebook's hash. A killed batch keeps every finished row; running the same command again
grades only what is missing or changed. Beside the CSV, `scores_feedback/NAME.md` tells each
student which check passed or failed and why: hand it back.

How a score is computed: the notebook runs from the top, cell by cell, as in Jupyter (cells tagged
`otter_ignore`, the install cell, are skipped). Right after the cell `grader.check("qN")`, question
N's public and hidden checks run against the notebook's variables at that point; so later cells
cannot change an earlier question's score, and the file name does not matter. A question whose
check cell was deleted is checked at the end (the note says so). Points come only from hidden
checks (public checks give feedback and 0 points); the questions that forbid a shortcut (no
autograd, no fused loss, not the package's own function) are all-or-nothing, and their hidden
checks detect the shortcut. An exception in an answer, `SystemExit` included, costs that
question, not the row, and the note shows it. Discussion questions are not scored (grade them by
hand against the model answers in `solutions.ipynb`).

## Trust model: what the sandbox prevents and what it cannot

Students' notebooks are untrusted code. Each one is copied, under the assignment's own file name,
into a private temporary folder and run by a child process in its own process group, inside a
bubblewrap sandbox:

- no network (all namespaces unshared), its own /tmp and home (size-capped tmpfs), a user without
  capabilities; the system, Python and nlpbook read-only; nothing else of the disk: not this
  repository (solutions, hidden tests as files), not the other submissions, not the CSV;
- a time limit per notebook (default 180 s; the whole group, anything it started included, is
  killed), a memory cap (`RLIMIT_AS`, default 4096 MB) and a cap on file sizes; it sees its own
  processes only (a `kill` of its parent hits the sandbox's own init, never the grader);
- its output is discarded; results come back as JSON lines on a pipe, of which the grader reads
  at most 4 MB; nothing is unpickled; a score is clamped to the question's points;
- questions graded before a crash, a kill or the time limit keep their scores.

What it cannot prevent:

- a notebook can fake **its own** score: the checks run in the same Python process as the
  student's code (as in otter and nbgrader), so code that patches torch, the checks or the
  grader's result line can pass them. It cannot change anyone else's row. The source scan flags
  what such code needs: otter/grader internals, `pickle`, `/proc`, `subprocess` and shell
  escapes, `signal`/`os.kill`, `ctypes`, interpreter internals (`sys.modules`, frames, `gc`),
  assignments to library attributes (`torch.x = ...`). A flag is a reason to read the notebook,
  not a verdict; nothing is scored down or dropped automatically;
- the hidden checks are in the child's memory while it runs: a notebook could copy them into its
  own feedback file, nowhere else;
- CPU and memory the notebook uses within its limits (a fork bomb is stopped by the time limit);
- bugs in the Linux kernel or bubblewrap.

Without a sandbox (macOS, Windows, a container where bubblewrap cannot create namespaces),
grading refuses to run unless you pass `--no-sandbox`
(`make grade ... GRADING_FLAGS=--no-sandbox`). Then each notebook still gets its own process
group, time limit, memory cap, private copy and JSON results, but it runs as you: it CAN read
and write your files (other submissions, the CSV, this repository with the solutions), use the
network, and signal or outlive your other processes. Use that only for notebooks you trust, or
grade in otter's Docker (`otter grade --timeout ... --no-network` with the zip) or on Gradescope.

Tested (tests/test_exercises.py): notebooks that read the solutions, hidden tests and other
submissions (through the repository path, `/proc` and the batch folder), overwrite another
submission and the CSV and leave a detached process doing it later, kill their parent, patch
`pickle.dump`, write forged result lines to every file descriptor, raise `SystemExit`, allocate
6 GiB, print 48 MB, loop forever, patch `torch.testing`; the honest rows stay right and nothing
outside the sandbox changes.

## Time

{timing}
"""

GRADING_TIMING = """Measured 2026-12-07 on this project's idle 2-core AMD EPYC with
`benchmarks/bench_grading.py`: 30 submissions (15 solved, 15 untouched), each in its sandbox:

| chapter | 2 at once (default) | one after the other |
|---|---|---|
| 01 | 58 s | 106 s |
| 04 | 48 s | not measured |

Every solved notebook scored full marks and every untouched one 0. Each notebook's process costs 2.0
to 2.5 s of CPU (median), mostly starting Python and importing torch, and at most 373 MB of memory.
On the same machine shared with six other jobs (load average 3 to 13) two at once took 123 to 253 s
for chapter 01. (Before issue 30, otter's runner took 4 min 4 s on the idle machine, one notebook
after another.)"""


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
    (part / "GRADING.md").write_text(GRADING_MD.replace("{timing}", GRADING_TIMING), "utf-8")
    shutil.rmtree(out, ignore_errors=True)
    part.rename(out)
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------------------------------------
# Grading (issue 30). The grader (this process) never runs a student's code. Each submission is
# copied under the assignment's own file name into a private temporary folder and run by a child,
# `exercises.py _child` (the code below `_child_main`), in its own process group with a time limit
# and a memory cap, inside bubblewrap (no network, private /tmp and home, read-only Python, nothing
# of the instructor's files or the other submissions). The child executes the notebook cell by
# cell in an IPython shell and runs each question's checks right after that question's
# `grader.check("qN")` cell, so later cells cannot change an earlier score and the file name does
# not matter. It reports one JSON line per question on its stdout; the grader reads at most
# RESULT_CAP bytes, never unpickles anything, and writes each row to the CSV as it is graded.

DEFAULT_TIMEOUT_S = 180
DEFAULT_MEMORY_MB = 4096
RESULT_CAP = 4 << 20  # bytes of child output the grader reads; the rest is discarded
MESSAGE_CAP = 400  # characters of one check's message kept for the feedback
CHECK_CALL = re.compile(r"""\bgrader\.check\(\s*["'](q\d+)["']""")
# What a notebook must not need; each match is flagged in the CSV's note column (never silently
# dropped, never scored down automatically: an instructor looks at it).
SCAN = {
    "otter/grader internals": r"\botter\.(?!Notebook\b)\w|\bgrader\.(?!check\b|check_all\b|export\b)\w"
    r"|\b(_child_main|_run_checks|_parse_tests|_FakeNotebook|GradingResults|test_case)\b",
    "pickle": r"\b(c?pickle|dill|cloudpickle|marshal|shelve)\b|__reduce",
    "/proc": r"/proc\b",
    "subprocess": r"\bsubprocess\b|\bos\.(system|popen|exec\w*|spawn\w*|fork)\b|\bpty\b|^\s*!",
    "signal/os.kill": r"\bsignal\b|\bos\.kill(pg)?\b|\bkillpg\b",
    "ctypes": r"\bctypes\b|\bcffi\b",
    "raw file descriptors": r"\bos\.(write|dup2?|fdopen|open)\b|/dev/fd\b|/proc/self/fd",
    "interpreter internals": r"\bsys\.(modules|settrace|setprofile|_getframe|stdout\s*=)|__builtins__"
    r"|\bbuiltins\b|\bgc\.get_(objects|referrers)|\binspect\.(stack|currentframe)",
    "patches a library": r"^\s*(torch|math|np|numpy|nn|F)(\.\w+)+\s*=[^=]|\bsetattr\(\s*(torch|math|nn)\b",
}


class GradingError(SystemExit):
    pass


def sandbox_problem() -> str:
    """'' when bubblewrap can build a sandbox here, else why not."""
    import subprocess

    bwrap = shutil.which("bwrap")
    if not bwrap:
        return (
            "bubblewrap (bwrap) is not installed (Debian/Ubuntu: `make grade-setup`; "
            "there is none for macOS or Windows)"
        )
    with tempfile.TemporaryDirectory() as work:  # the sandbox grading uses, running `true`
        probe = [*_sandbox_args(Path(work)), "true"]
        try:
            done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bwrap does not start: {error}"
    if done.returncode:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bwrap cannot build a sandbox here ({detail}; unprivileged user namespaces off?)"
    return ""


NO_SANDBOX_WARNING = (
    "grading WITHOUT a sandbox (--no-sandbox): each notebook still runs in its own process group "
    "with a time limit and a memory cap, from a private copy, and its results come back as JSON; "
    "but it runs as you, so it CAN read and write your files (other submissions, the CSV, the "
    "hidden checks and solutions in this repository), use the network, and signal or outlive "
    "your other processes. Use it only for submissions you trust."
)


def _ro_binds() -> list[str]:
    """bwrap arguments: the system, Python and nlpbook, read-only; nothing else of the disk."""
    import nlpbook

    args = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/fonts", "/etc/localtime"):
        args += ["--ro-bind-try", etc, etc]
    # the interpreter, the environment and (for an editable install) nlpbook's source folder
    roots = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    roots.add(Path(nlpbook.__file__).resolve().parents[1])
    for root in sorted(roots):
        if not any(root.is_relative_to(p) for p in roots - {root}):
            if not str(root).startswith(("/usr/", "/bin/", "/lib")):
                args += ["--ro-bind", str(root), str(root)]
    return args


def _bwrap_has(option: str) -> bool:
    """Whether this bubblewrap knows `option` (--disable-userns came in 0.8)."""
    import subprocess

    if option not in _BWRAP_OPTIONS:
        try:
            helptext = subprocess.run(["bwrap", "--help"], capture_output=True, text=True).stdout
        except OSError:
            helptext = ""
        _BWRAP_OPTIONS[option] = option in helptext
    return _BWRAP_OPTIONS[option]


_BWRAP_OPTIONS: dict[str, bool] = {}


def _sandbox_args(work: Path) -> list[str]:
    """bwrap and its options, up to the command: `work` is the only writable folder of the disk."""
    home = "/home/student"
    userns = ["--disable-userns"] if _bwrap_has("--disable-userns") else []
    return [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all", "--unshare-user", *userns, "--uid", "1000", "--gid", "1000",
        "--cap-drop", "ALL", "--die-with-parent", "--new-session",
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(256 << 20), "--tmpfs", "/tmp",
        "--size", str(64 << 20), "--tmpfs", "/home",
        *_ro_binds(),  # after the tmpfs mounts: a venv or checkout under /home or /tmp stays
        "--bind", str(work), f"{home}/work",
        "--ro-bind", str(Path(__file__).resolve()), "/grader/exercises.py",
        "--chdir", f"{home}/work",
    ]  # fmt: skip


def _child_command(work: Path, name: str, sandbox: bool) -> list[str]:
    python = str(Path(sys.executable).absolute())  # the venv's python, not its target
    if not sandbox:
        return [python, "-I", str(Path(__file__).resolve()), "_child", name, "--shim"]
    return [*_sandbox_args(work), python, "-I", "/grader/exercises.py", "_child", name]


def _child_env(sandbox: bool, work: Path, memory_mb: int) -> dict:
    home = "/home/student" if sandbox else str(work.parent / "home")
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": "/tmp" if sandbox else str(work.parent / "tmp"),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.mpl",
        "IPYTHONDIR": f"{home}/.ipython",
        "NLPBOOK_GRADE_MEMORY_MB": str(memory_mb),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _read_capped(stream, sink: list, cap: int) -> None:
    """Keep the first `cap` bytes of `stream` in `sink`, read and drop the rest (so a child that
    prints without end neither blocks nor fills the grader's memory)."""
    kept = 0
    while chunk := stream.read(65536):
        if kept < cap:
            sink.append(chunk[: cap - kept])
            kept += len(sink[-1])
    stream.close()


_LIVE: set[int] = set()  # process groups of the children running now


def _kill_live_children() -> None:
    import signal

    for pgid in list(_LIVE):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run_child(submission: Path, name: str, tests: dict, sandbox: bool, timeout_s: float,
              memory_mb: int) -> dict:  # fmt: skip
    """Grade one submission in a child; return {'questions': {q: result}, 'note': str}."""
    import signal
    import subprocess
    import threading
    import time

    base = Path(tempfile.mkdtemp(prefix="nlpbook-grade-"))  # 0700: private to this user
    try:
        work = base / "work"
        work.mkdir()
        for sub in ("home", "tmp"):
            (base / sub).mkdir()
        shutil.copyfile(submission, work / name)
        proc = subprocess.Popen(
            _child_command(work, name, sandbox),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_child_env(sandbox, work, memory_mb), start_new_session=True, cwd=work,
        )  # fmt: skip
        _LIVE.add(proc.pid)
        out, err = [], []
        readers = [
            threading.Thread(target=_read_capped, args=(proc.stdout, out, RESULT_CAP), daemon=True),
            threading.Thread(target=_read_capped, args=(proc.stderr, err, 8192), daemon=True),
        ]
        for reader in readers:
            reader.start()
        start = time.monotonic()
        readers.append(threading.Thread(target=_feed, args=(proc.stdin, tests), daemon=True))
        readers[-1].start()  # in a thread: a child that does not read cannot block the grader
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:  # the whole group, also what the notebook left running
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            _LIVE.discard(proc.pid)
        for reader in readers:
            reader.join(timeout=10)
        seconds = time.monotonic() - start
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result = _parse_child_output(b"".join(out))
    if timed_out:
        result["note"] = f"stopped at the time limit ({timeout_s:g} s)"
    elif not result["done"]:
        stderr = b"".join(err).decode("utf-8", "replace").strip().splitlines()
        why = f"exit code {proc.returncode}" if proc.returncode >= 0 else (
            f"killed by signal {-proc.returncode}"
            + (" (memory cap?)" if -proc.returncode in (6, 9, 11) else "")
        )  # fmt: skip
        result["note"] = result["note"] or (
            f"the notebook stopped the grader's process ({why})"
            + (f": {stderr[-1][:200]}" if stderr else "")
        )
    result["seconds"] = seconds
    return result


def _feed(stream, tests: dict) -> None:
    try:
        stream.write(json.dumps({"tests": tests}).encode())
        stream.close()
    except OSError:
        pass


def _clean_question(raw: dict) -> dict:
    """The child's report of one question, reduced to plain fields of the right types (the child
    runs the student's code: its output is data to check, not to trust)."""

    def text(value) -> str:
        return str(value)[:MESSAGE_CAP] if value is not None else ""

    def number(value) -> float:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return 0.0
        return value if value == value and abs(value) != float("inf") else 0.0

    cases = raw.get("cases") if isinstance(raw.get("cases"), list) else []
    errors = raw.get("errors") if isinstance(raw.get("errors"), list) else []
    return {
        "score": number(raw.get("score")),
        "where": text(raw.get("where")),
        "errors": [text(e) for e in errors[:20]],
        "cases": [
            {
                "name": text(c.get("name")),
                "hidden": c.get("hidden") is True,
                "passed": c.get("passed") is True,
                "points": number(c.get("points")),
                "message": text(c.get("message")),
            }  # fmt: skip
            for c in cases[:50]
            if isinstance(c, dict)
        ],
    }


def _parse_child_output(data: bytes) -> dict:
    """The child's JSON lines: one per question, a final {'done': true}; anything else ignored."""
    result = {"questions": {}, "done": False, "note": ""}
    for line in data.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("question"), dict) and isinstance(item.get("name"), str):
            result["questions"].setdefault(item["name"], _clean_question(item["question"]))
        elif item.get("error"):
            result["note"] = str(item["error"])[:300]
        elif item.get("done") is True:
            result["done"] = True
            for key in ("cpu_s", "peak_mb"):  # as the child says (timing reports only)
                if isinstance(item.get(key), (int, float)):
                    result[key] = float(item[key])
    return result


# --- the child: runs inside the sandbox -------------------------------------------------------


def _parse_tests(text: str) -> dict:
    """An otter python test file (as otter assign writes it) -> {'points', 'all_or_nothing',
    'cases': [{'name', 'hidden', 'points', 'function'}]}, points resolved the way otter does."""
    cases = []

    def test_case(name=None, points=None, hidden=False, **_):
        def register(function):
            cases.append({"name": name or function.__name__, "points": points, "hidden": hidden,
                          "function": function})  # fmt: skip
            return function

        return register

    otter_stub = types.ModuleType("otter.test_files")
    otter_stub.test_case = test_case
    text = text.replace("from otter.test_files import test_case", "")
    namespace = {"test_case": test_case, "__name__": "checks"}
    exec(compile(text, "<checks>", "exec"), namespace)
    total = namespace.get("points")
    fixed = sum(c["points"] for c in cases if c["points"] is not None)
    free = [c for c in cases if c["points"] is None]
    if total is None:
        total = fixed if fixed else 1
    for case in free:
        case["points"] = (total - fixed) / len(free)
    return {"points": float(total), "all_or_nothing": bool(namespace.get("all_or_nothing")),
            "cases": cases}  # fmt: skip


def _message(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, AssertionError) and text:
        return text[:MESSAGE_CAP]
    return f"{type(error).__name__}: {text}"[:MESSAGE_CAP] if text else type(error).__name__


def _run_checks(spec: dict, namespace: dict) -> dict:
    """Run one question's checks against the notebook's variables now; never raises."""
    import inspect

    cases, score = [], 0.0
    for case in spec["cases"]:
        function = case["function"]
        try:
            names = list(inspect.signature(function).parameters)
            missing = [n for n in names if n not in namespace]
            if missing:
                raise NameError(f"`{missing[0]}` is not defined (not answered, or its cell failed)")
            function(*(namespace[n] for n in names))
            passed, message = True, ""
        except BaseException as error:  # noqa: BLE001 - SystemExit in an answer costs this check
            passed, message = False, _message(error)
        cases.append({"name": case["name"], "hidden": case["hidden"], "points": case["points"],
                      "passed": passed, "message": message})  # fmt: skip
        score += case["points"] if passed else 0.0
    if spec["all_or_nothing"]:
        score = spec["points"] if all(c["passed"] for c in cases) else 0.0
    return {"score": score, "possible": spec["points"], "cases": cases}


class _FakeNotebook:
    """What `otter.Notebook` is while grading: the checks run in the grader, not here."""

    def __init__(self, *args, **kwargs):
        pass

    def check(self, question, *args, **kwargs):
        return f"{question}: graded by the instructor's grader"

    def check_all(self, *args, **kwargs):
        return None

    def export(self, *args, **kwargs):
        return None


def _child_main(name: str, shim: bool) -> int:
    import resource

    if shim:  # without a sandbox: the notebook's parent is this shim, not the grader
        pid = os.fork()
        if pid:
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    limit = int(os.environ.get("NLPBOOK_GRADE_MEMORY_MB", DEFAULT_MEMORY_MB)) << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 20, 256 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for folder in ("HOME", "TMPDIR", "MPLCONFIGDIR", "IPYTHONDIR"):
        os.makedirs(os.environ.get(folder, "/tmp"), exist_ok=True)
    specs = {q: _parse_tests(text) for q, text in json.load(sys.stdin)["tests"].items()}
    report = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the notebook's own output goes nowhere
        os.dup2(devnull, fd)

    def send(item: dict) -> None:
        report.write(json.dumps(item) + "\n")
        report.flush()

    try:
        with open(name, encoding="utf-8") as f:
            notebook = json.load(f)
        cells = [c for c in notebook["cells"] if c.get("cell_type") == "code"]
    except Exception as error:  # noqa: BLE001
        send({"error": f"not a readable notebook: {_message(error)}"})
        send({"done": True})
        return 0

    from IPython.core.interactiveshell import InteractiveShell

    fake = types.ModuleType("otter")
    fake.Notebook = _FakeNotebook
    sys.modules["otter"] = fake
    shell = InteractiveShell.instance()
    shell.user_ns["__name__"] = "__main__"
    graded, failures = set(), []

    def grade(question: str, where: str) -> None:
        if question in specs and question not in graded:
            graded.add(question)
            result = _run_checks(specs[question], shell.user_ns)
            result["errors"], result["where"] = failures[:], where
            failures.clear()
            send({"name": question, "question": result})

    for index, cell in enumerate(cells):
        source = "".join(cell.get("source", ""))
        if "otter_ignore" in cell.get("metadata", {}).get("tags", []):
            continue
        try:
            outcome = shell.run_cell(source, store_history=False, silent=False)
            error = outcome.error_before_exec or outcome.error_in_exec
        except BaseException as caught:  # noqa: BLE001
            error = caught
        if error is not None:
            failures.append(f"code cell {index + 1}: {_message(error)}"[:MESSAGE_CAP])
        for question in CHECK_CALL.findall(source):
            grade(question, f"after code cell {index + 1}")
    for question in specs:  # no grader.check cell left for it: checked against the final state
        grade(question, "at the end (no grader.check cell)")
    usage = resource.getrusage(resource.RUSAGE_SELF)  # for the timing report only
    send({"done": True, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss >> 10})
    return 0


# --- the batch: rows as they are graded, resumable --------------------------------------------


def scan_source(notebook_text: str, pristine: set[str]) -> list[str]:
    """The SCAN labels that the notebook's own code (cells not in the handed-out version) hits."""
    try:
        cells = json.loads(notebook_text)["cells"]
    except (ValueError, KeyError, TypeError):
        return []
    code = "\n".join(
        "".join(c.get("source", ""))
        for c in cells
        if isinstance(c, dict) and c.get("cell_type") == "code"
        and "".join(c.get("source", "")) not in pristine
    )  # fmt: skip
    return [label for label, pattern in SCAN.items() if re.search(pattern, code, re.M)]


def _row(name: str, digest: str, possible: dict, result: dict, flags: list[str]) -> dict:
    row = {"submission": name}
    notes = [result["note"]] if result.get("note") else []
    for q, points in possible.items():
        got = result["questions"].get(q)
        try:
            score = min(max(float(got["score"]), 0.0), points)
        except (TypeError, KeyError, ValueError):
            score = 0.0
            if result["questions"]:  # the notebook stopped after earlier questions were graded
                notes.append(f"{q}: not graded")
        row[q] = round(score, 4)
        for error in (got or {}).get("errors", [])[:1]:
            notes.append(f"{q}: {error}"[:160])
    row["total"] = round(sum(row[q] for q in possible), 4)
    row["possible"] = sum(possible.values())
    row["flags"] = "; ".join(flags)
    row["note"] = "; ".join(notes)
    row["sha256"] = digest
    return row


def feedback_markdown(name: str, row: dict, result: dict, possible: dict) -> str:
    """What a student can read: each question's checks, passed or failed, and their messages."""
    lines = [f"# Feedback: {name}", "", f"Score: {row['total']:g} / {row['possible']:g}", ""]
    if row["note"]:
        lines += [f"Note: {row['note']}", ""]
    for q, points in possible.items():
        got = result["questions"].get(q) or {}
        lines.append(f"## {q}: {row[q]:g} / {points:g}")
        if not got:
            lines.append("- not graded (the notebook stopped before this question was checked)")
        for error in got.get("errors", []):
            lines.append(f"- error while running your code, {error}")
        for case in got.get("cases", []):
            kind = "hidden check" if case.get("hidden") else "public check"
            mark = "passed" if case.get("passed") else "failed"
            message = str(case.get("message") or "").replace("\n", " ")
            lines.append(
                f"- {kind} `{case.get('name')}`: {mark}" + (f": {message}" if message else "")
            )
        lines.append("")
    return "\n".join(lines)


def _write_atomically(path: Path, text: str) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)


def _graded_rows(out_csv: Path, columns: list[str]) -> dict[str, dict]:
    """Rows already in `out_csv` (a re-run resumes), after dropping a half-written last line."""
    if not out_csv.exists():
        return {}
    text = out_csv.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        _write_atomically(out_csv, text)
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames and reader.fieldnames != columns:
        raise GradingError(f"{out_csv}: its columns are not this chapter's; choose another --out")
    return {row["submission"]: row for row in reader}


def _append_row(out_csv: Path, columns: list[str], row: dict) -> None:
    """One row, one write, flushed to disk: a killed batch keeps every finished row."""
    import io

    new = not out_csv.exists() or out_csv.stat().st_size == 0
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    if new:
        writer.writeheader()
    writer.writerow(row)
    with out_csv.open("a", encoding="utf-8", newline="") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())


def grade_folder(folder: Path, source: Path, out_csv: Path, *, sandbox: bool | None = None,
                 jobs: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 memory_mb: int = DEFAULT_MEMORY_MB, feedback: bool = True,
                 quiet: bool = False) -> dict:  # fmt: skip
    """Grade every .ipynb in `folder` with `source`'s checks into `out_csv` (appended row by row,
    resumed if it exists); return the children's results by submission name (graded now only)."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor, as_completed

    submissions = sorted(folder.glob("*.ipynb"))
    if not submissions:
        raise GradingError(f"{folder}: no .ipynb submissions to grade")
    out_csv = out_csv.absolute()
    if out_csv.is_relative_to(folder.resolve()) or out_csv.is_relative_to(folder.absolute()):
        raise GradingError(f"{out_csv}: put the scores outside the submissions folder")
    if sandbox is None:
        problem = sandbox_problem()
        if problem:
            raise GradingError(
                f"no sandbox: {problem}. Grading runs the students' code; refusing to grade "
                "without a sandbox. Pass --no-sandbox to do it anyway (what that does not guard: "
                "see GRADING.md)."
            )
        sandbox = True
    elif not sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    tests = all_checks(source)
    possible = _points_possible(tests)
    tests = {q: tests[q] for q in possible}
    student = STUDENT_DIR / source.name
    pristine = {
        "".join(c["source"]) for c in json.loads(student.read_text(encoding="utf-8"))["cells"]
    } if student.exists() else set()  # fmt: skip
    columns = ["submission", *possible, "total", "possible", "flags", "note", "sha256"]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    done = _graded_rows(out_csv, columns)
    feedback_dir = out_csv.with_name(out_csv.stem + "_feedback")
    todo = []
    for submission in submissions:
        data = submission.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        if done.get(submission.name, {}).get("sha256") == digest:
            continue  # graded in an earlier run, unchanged since
        if submission.name in done:
            print(f"{submission.name}: changed since it was graded; graded again")
        todo.append((submission, digest, scan_source(data.decode("utf-8", "replace"), pristine)))
    if not jobs:  # one notebook per core this process may use
        affinity = getattr(os, "sched_getaffinity", None)
        jobs = len(affinity(0)) if affinity else os.cpu_count() or 1
    results = {}
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {
            pool.submit(run_child, sub, source.name, tests, sandbox, timeout_s, memory_mb): (
                sub, digest, flags,
            )
            for sub, digest, flags in todo
        }  # fmt: skip
        for future in as_completed(futures):
            submission, digest, flags = futures[future]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - the batch goes on
                result = {"questions": {}, "done": False, "note": f"not graded: {error}"}
            try:
                row = _row(submission.name, digest, possible, result, flags)
            except Exception as error:  # noqa: BLE001 - never expected; the batch goes on
                result = {"questions": {}, "done": False, "note": f"grader error: {error!r}"}
                row = _row(submission.name, digest, possible, result, flags)
            _append_row(out_csv, columns, row)
            if feedback:
                feedback_dir.mkdir(exist_ok=True)
                _write_atomically(
                    feedback_dir / f"{submission.stem}.md",
                    feedback_markdown(submission.name, row, result, possible),
                )
            results[submission.name] = result | {"row": row}
            if not quiet:
                flag = f" [flagged: {row['flags']}]" if row["flags"] else ""
                print(f"{submission.name}: {row['total']:g} / {row['possible']:g}{flag} "
                      f"{row['note']}".rstrip())  # fmt: skip
    except BaseException:  # Ctrl-C: stop the notebooks running now, start no other
        pool.shutdown(wait=False, cancel_futures=True)
        _kill_live_children()
        raise
    pool.shutdown()
    if any(name in done for name in results):  # re-graded: keep the newest row of each
        _compact(out_csv, columns)
    return results


def _compact(out_csv: Path, columns: list[str]) -> None:
    import io

    newest = _graded_rows(out_csv, columns)  # the last row of each submission
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(newest.values())
    _write_atomically(out_csv, buffer.getvalue())


_CHECKS: dict[tuple, dict] = {}


def all_checks(source: Path) -> dict[str, str]:
    """Question -> otter's test file (public and hidden checks) for `source`, from otter assign;
    kept for the process while the source is unchanged."""
    key = (source.resolve(), source.stat().st_mtime_ns)
    if key not in _CHECKS:
        with tempfile.TemporaryDirectory() as tmp:
            assigned = otter_assign(source, Path(tmp) / "out", run_tests=False)
            solutions = json.loads((assigned / "autograder" / source.name).read_text("utf-8"))
        _CHECKS[key] = solutions["metadata"]["otter"]["tests"]
    return dict(_CHECKS[key])


def _points_possible(tests: dict[str, str]) -> dict[str, float]:
    """Question name -> points, from the tests otter stored in the notebook's metadata."""
    points = {}
    for name, text in tests.items():
        match = re.search(r"^points = ([0-9.]+)$", text, re.M)
        points[name] = float(match.group(1)) if match else 0.0
    points = {q: p for q, p in points.items() if p > 0}
    return dict(sorted(points.items(), key=lambda item: int(item[0].lstrip("q"))))


def cmd_grade(args: argparse.Namespace) -> int:
    if not args.submissions.is_dir():
        raise GradingError(f"{args.submissions}: not a folder of submitted notebooks")
    grade_folder(
        args.submissions, source_for(args.chapter), args.out,
        sandbox=False if args.no_sandbox else None, jobs=args.jobs, timeout_s=args.timeout,
        memory_mb=args.memory_mb,
    )  # fmt: skip
    print(f"wrote {args.out}")
    return 0


def cmd_child(args: argparse.Namespace) -> int:
    return _child_main(args.name, args.shim)


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
    grade.add_argument("--jobs", type=int, default=None, help="notebooks at once (default: cores)")
    grade.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="s per notebook")
    grade.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB, help="per notebook")
    grade.add_argument(
        "--no-sandbox", action="store_true",
        help="grade without bubblewrap (trusted submissions only: see GRADING.md)",
    )  # fmt: skip
    grade.set_defaults(run=cmd_grade)
    child = commands.add_parser("_child", help=argparse.SUPPRESS)
    child.add_argument("name")
    child.add_argument("--shim", action="store_true")
    child.set_defaults(run=cmd_child)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
