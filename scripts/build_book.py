"""Build the static HTML book from the committed, executed notebooks (they are not re-run).

    python scripts/build_book.py --out build/book     # what `make book` runs

Assembles a Sphinx source tree in OUT/src (book/conf.py and custom.css; a landing page made from the
README's introduction and chapter table; copies of notebooks/*.ipynb with progress-bar
widgets dropped; the exercises' student versions, exercises/*.ipynb, under exercises/; MathJax 3 from npm (book/package-lock.json), so the site needs no CDN) and builds it into OUT/html. Open OUT/html/index.html in a browser.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from colab_cells import BADGE_IMAGE, repository_url, without_block  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


NOTEBOOKS = ROOT / "notebooks"
EXERCISES = ROOT / "exercises"  # the student versions (scripts/exercises.py), never the sources


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def exercises() -> list[Path]:
    return sorted(EXERCISES.glob("[0-9][0-9]_*.ipynb"))


def section(markdown: str, heading: str) -> str:
    """The text under `## heading` up to the next `## ` heading ('' if there is none)."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    return match.group(1).strip() if match else ""


def rewrite_links(markdown: str, repo: str) -> str:
    """Chapter links point at the book's pages; other repository paths at the repository."""

    def fix(match: re.Match) -> str:
        target = match.group(1)
        if re.match(r"[a-z]+:|#", target):
            return match.group(0)
        chapter = re.fullmatch(r"notebooks/([0-9][0-9]_[^/]+)\.ipynb", target)
        if chapter:
            return f"]({chapter.group(1)}.ipynb)"
        return f"]({repo}/blob/main/{target})"

    return re.sub(r"\]\(([^)\s]+)\)", fix, markdown)


def landing_page(repo: str) -> str:
    """index.md: the README's title and introduction, its chapter table, and the toctree."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = readme.split("\n## ", 1)[0]
    intro = re.sub(r"\A# .*\n", "", intro).strip()
    table = section(readme, "Chapters")
    toctree = "\n".join(p.stem for p in chapters())
    exercise_toctree = "\n".join(f"exercises/{p.stem}" for p in exercises())
    parts = [
        "# nlpbook",
        rewrite_links(intro, repo),
        "## Chapters",
        rewrite_links(table, repo),
        f"Each chapter is a notebook in [the repository]({repo}), executed on a CPU with the quick "
        "profile and checked by CI; the pages here show those committed outputs. To run a chapter "
        "yourself, open it in Colab (the link under its title) or clone the repository and run "
        "`make lab`.",
        f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: Chapters\n\n{toctree}\n```",
    ]
    if exercise_toctree:
        parts += [
            "## Exercises",
            "Each chapter has an exercise notebook with instant checks (`grader.check`); the pages "
            "here show the student versions, to run in Jupyter or Colab (the link under each title).",
            f"```{{toctree}}\n:maxdepth: 1\n:caption: Exercises\n\n{exercise_toctree}\n```",
        ]
    return "\n\n".join(parts) + "\n"


def book_copy(src: Path, dst: Path) -> None:
    """A copy of a notebook for the book, for readers rather than CI and Colab: no progress-bar
    widgets, no nbval markers, no install-if-missing block, a text link instead of the badge."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    nb["metadata"].pop("widgets", None)  # widget state would pull the widget JS from a CDN
    kept = []
    for cell in nb["cells"]:
        if "otter_ignore" in cell["metadata"].get("tags", []):
            continue  # an exercise's Colab setup cell, like the chapters' install block
        if cell["cell_type"] == "code":
            cell["outputs"] = [o for o in cell["outputs"] if WIDGET_VIEW not in o.get("data", {})]
            code = without_block("".join(cell["source"]))
            if not code.strip():  # the install block's own cell: nothing left to show
                continue
            cell["source"] = re.sub(r"^# NBVAL_[A-Z_]+[^\n]*\n", "", code, flags=re.M)
        elif cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            # The badge is an image on an outside host; the book shows a plain link instead.
            text = text.replace(f"[![Open In Colab]({BADGE_IMAGE})]", "[Open in Colab]")
            # A chapter's link to its exercises: in the book both live under one root.
            text = text.replace("](../exercises/", "](exercises/")
            cell["source"] = text
        kept.append(cell)
    nb["cells"] = kept
    dst.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def exercise_copy(src: Path, dst: Path) -> None:
    """A student version for the book (exercises/ in the book): as book_copy, with its link to
    the chapter pointing at the chapter's page."""
    book_copy(src, dst)
    dst.write_text(dst.read_text(encoding="utf-8").replace("](../notebooks/", "](../"))


def mathjax_dir() -> Path:
    """MathJax 3's browser build, installed from book/package-lock.json on first use."""
    es5 = ROOT / "book" / "node_modules" / "mathjax" / "es5"
    if not es5.exists():
        npm = shutil.which("npm")
        if npm is None:
            sys.exit(
                "make book needs npm (Node.js) once, to install MathJax from book/package-lock.json"
            )
        cmd = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
        subprocess.run(cmd, cwd=ROOT / "book", check=True)
    return es5


def copy_mathjax(dst: Path) -> None:
    """The CommonHTML build and what it loads on demand (fonts, TeX extensions, menu)."""
    keep = {"tex-chtml.js", "input", "output", "ui", "a11y", "sre", "adaptors"}
    src = mathjax_dir()
    dst.mkdir(parents=True)
    for item in src.iterdir():
        if item.name in keep:
            copy = shutil.copytree if item.is_dir() else shutil.copy
            copy(item, dst / item.name)


def assemble(src: Path) -> None:
    repo = repository_url()
    if src.exists():
        shutil.rmtree(src)
    (src / "_static").mkdir(parents=True)
    copy_mathjax(src / "_static" / "mathjax")
    shutil.copy(ROOT / "book" / "conf.py", src / "conf.py")
    for name in ("custom.css", "favicon.svg"):
        shutil.copy(ROOT / "book" / name, src / "_static" / name)
    (src / "settings.json").write_text(json.dumps({"repository": repo}), encoding="utf-8")
    (src / "index.md").write_text(landing_page(repo), encoding="utf-8")
    for path in chapters():
        book_copy(path, src / path.name)
    if exercises():
        (src / "exercises").mkdir()
    for path in exercises():
        exercise_copy(path, src / "exercises" / path.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    parser.add_argument("--notebooks", type=Path, default=None, help="default: notebooks/")
    args = parser.parse_args()
    if args.notebooks:
        global NOTEBOOKS
        NOTEBOOKS = args.notebooks.resolve()
    out = args.out.resolve()
    start = time.perf_counter()
    assemble(out / "src")
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-d",
        str(out / "doctrees"),
        str(out / "src"),
        str(html),
    ]
    result = subprocess.run(cmd, check=False)
    if result.returncode:
        return result.returncode
    print(f"book built in {time.perf_counter() - start:.1f} s: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
