"""Make every chapter open in Colab (or any Jupyter without this repository). Idempotent.

    python scripts/colab_cells.py notebooks/*.ipynb           # rewrite in place
    python scripts/colab_cells.py --check notebooks/*.ipynb   # exit 1 if a notebook needs it

For each notebook it
- puts an "Open in Colab" badge under the title (the first line of the first markdown cell),
  linking to the notebook on the repository's main branch;
- makes the first code cell INSTALL_BLOCK alone (a cell of its own, before the chapter's
  imports): if `import nlpbook` fails, it `%pip install`s the package at the version the
  block names (the tag v<version> of pyproject.toml, or --ref). NLPBOOK_PIP_SOURCE replaces
  what pip installs (a local checkout, a fork, a wheel; any pip arguments). Where nlpbook is
  importable the block prints nothing, so nbval finds no output to compare.

Running it again replaces the badge and the block with fresh ones (a new version or URL) and
changes nothing else. The repository URL lives in one place: [project.urls] Repository in
pyproject.toml. Outputs, metadata and the other cells are left as they are.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
SOURCE_VARIABLE = "NLPBOOK_PIP_SOURCE"
BLOCK_FIRST_LINE = (
    "# Colab, or Jupyter without this repository: install nlpbook at this notebook's version."
)
BLOCK_LAST_LINE_START = '    get_ipython().run_line_magic("pip", '

INSTALL_BLOCK = f'''{BLOCK_FIRST_LINE}
# {SOURCE_VARIABLE} installs from elsewhere instead (a local checkout, a fork; any pip arguments).
try:
    import nlpbook  # noqa: F401
except ImportError:
    import os

    _source = os.environ.get("{SOURCE_VARIABLE}", "{{source}}")
{BLOCK_LAST_LINE_START}f"install -q {{{{_source}}}}")
'''


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def repository_url() -> str:
    """The public repository, from [project.urls] Repository in pyproject.toml."""
    return _pyproject()["project"]["urls"]["Repository"].rstrip("/")


def default_ref() -> str:
    return "v" + _pyproject()["project"]["version"]


def colab_url(repo: str, notebook: str, branch: str = "main") -> str:
    """Colab's address for a notebook in a GitHub repository."""
    owner_name = re.sub(r"^https://github\.com/", "", repo)
    return (
        f"https://colab.research.google.com/github/{owner_name}/blob/{branch}/notebooks/{notebook}"
    )


def badge(repo: str, notebook: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo, notebook)})"


def install_block(repo: str, ref: str) -> str:
    return INSTALL_BLOCK.format(source=f"git+{repo}@{ref}")


def _lines(cell: dict) -> list[str]:
    source = cell["source"]
    return (source if isinstance(source, str) else "".join(source)).splitlines(keepends=True)


def _set(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)  # nbformat's on-disk form: a list of lines


def with_badge(title: str, repo: str, notebook: str) -> str:
    """The title cell with exactly one badge line, right under its first line."""
    lines = title.splitlines(keepends=True)
    head, rest = lines[0], lines[1:]
    rest = [line for line in rest if BADGE_IMAGE not in line]
    while rest and not rest[0].strip():
        rest = rest[1:]
    head = head if head.endswith("\n") else head + "\n"
    return head + "\n" + badge(repo, notebook) + "\n\n" + "".join(rest)


def without_block(code: str) -> str:
    """The cell's own code: an earlier install block (and the blank line after it) removed."""
    lines = code.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\n") != BLOCK_FIRST_LINE:
        return code
    for i, line in enumerate(lines):
        if line.startswith(BLOCK_LAST_LINE_START):
            rest = lines[i + 1 :]
            while rest and not rest[0].strip():
                rest = rest[1:]
            return "".join(rest)
    raise ValueError("an install block without its last line; fix the cell by hand")


def apply(nb: dict, notebook: str, repo: str, ref: str) -> dict:
    """The notebook with the badge and the install block in place (nb is changed too)."""
    markdown = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    if not markdown or not code:
        raise ValueError(f"{notebook}: needs a title (markdown) cell and a code cell")
    _set(markdown[0], with_badge("".join(_lines(markdown[0])), repo, notebook))
    block = install_block(repo, ref).rstrip("\n")
    own = without_block("".join(_lines(code[0])))
    if own.strip():  # the first code cell is the chapter's own: the block goes in before it
        cell = {"cell_type": "code", "execution_count": None, "id": f"ch{notebook[:2]}-colab",
                "metadata": {}, "outputs": [], "source": []}
        nb["cells"].insert(nb["cells"].index(code[0]), cell)
        _set(code[0], own)
        code[0] = cell
    _set(code[0], block)
    return nb


def dumps(nb: dict) -> str:
    """The layout Jupyter writes (indent 1, non-ASCII kept), so diffs show only real changes."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def process(path: Path, repo: str, ref: str, check: bool) -> bool:
    """Apply to one notebook file; True if it changed (or, with check, would change)."""
    before = path.read_text(encoding="utf-8")
    after = dumps(apply(json.loads(before), path.name, repo, ref))
    if after == before:
        return False
    if not check:
        path.write_text(after, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument(
        "--ref", default=None, help="tag or commit to install (default: v<version>)"
    )
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if needed")
    args = parser.parse_args(argv)
    repo, ref = repository_url(), args.ref or default_ref()
    changed = [p for p in args.notebooks if process(p, repo, ref, args.check)]
    for path in changed:
        print(("needs update: " if args.check else "updated: ") + str(path))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
