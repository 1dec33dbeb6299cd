"""Put the smoke-run switch into each chapter's config cell. Idempotent.

    python scripts/add_smoke_switch.py notebooks/*.ipynb           # rewrite in place
    python scripts/add_smoke_switch.py --check notebooks/*.ipynb   # exit 1 if one needs it

In the first code cell that assigns `cfg` (the config cell) it inserts, right after that
assignment, the line

    cfg = utils.smoke_config(cfg) if os.environ.get("NLPBOOK_SMOKE") == "1" else cfg

(with a one-line comment above it) and, where the cell does not import `os` at top level,
`import os` among its standard-library imports. NLPBOOK_SMOKE=1 is set only by CI's smoke run
(tests/test_full_profile_smoke.py): the same code paths, tiny sizes. A notebook without a
`cfg` (chapter 01 has nothing to shrink) is left as it is. Outputs, metadata and the other
cells are not touched; the file keeps the layout Jupyter writes.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

SMOKE_COMMENT = "# CI's smoke run (NLPBOOK_SMOKE=1): the same code paths at tiny sizes."
SMOKE_LINE = 'cfg = utils.smoke_config(cfg) if os.environ.get("NLPBOOK_SMOKE") == "1" else cfg'
MARKER = "utils.smoke_config("
_IMPORT = re.compile(r"^(import|from)\s+([A-Za-z_][\w.]*)")


class SwitchError(ValueError):
    """A config cell the switch cannot be put into safely (say why, fix by hand)."""


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _set(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)  # nbformat's on-disk form: a list of lines


def _tree(code: str) -> ast.Module | None:
    """The cell parsed as Python, or None when it holds IPython syntax (magics, !shell)."""
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _cfg_assignment_end(code: str) -> int | None:
    """The 1-based last line of the last top-level `cfg = ...` in `code`, or None."""
    tree = _tree(code)
    if tree is None:
        ends = [i + 1 for i, line in enumerate(code.splitlines()) if re.match(r"cfg\s*=", line)]
        return ends[-1] if ends else None
    ends = [
        node.end_lineno
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        and any(
            isinstance(t, ast.Name) and t.id == "cfg"
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
    ]
    return ends[-1] if ends else None


def config_cell(nb: dict) -> dict | None:
    """The first code cell that assigns `cfg` at top level, or None."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and _cfg_assignment_end(_source(cell)) is not None:
            return cell
    return None


def has_switch(nb: dict) -> bool:
    """True if the notebook's config cell has the switch, or the notebook has no `cfg`."""
    cell = config_cell(nb)
    return cell is None or MARKER in _source(cell)


def _binds_top_level(code: str, name: str) -> bool:
    return any(re.match(rf"import\s+{name}\s*(#.*)?$", line) for line in code.splitlines())


def _with_import_os(code: str) -> str:
    """`code` with `import os` among its first block of top-level standard-library imports."""
    if _binds_top_level(code, "os"):
        return code
    lines = code.splitlines(keepends=True)
    stdlib = sys.stdlib_module_names
    first = next((i for i, line in enumerate(lines) if _IMPORT.match(line)), None)
    if first is None:
        return "import os\n\n" + code
    block_end = first
    while block_end < len(lines) and _IMPORT.match(lines[block_end]):
        block_end += 1
    block = range(first, block_end)
    if not any(_IMPORT.match(lines[i]).group(2).split(".")[0] in stdlib for i in block):
        return "".join(lines[:first]) + "import os\n\n" + "".join(lines[first:])
    # isort's order within a section: plain `import x` lines (alphabetical), then `from`s.
    at = first
    for i in block:
        kind, module = _IMPORT.match(lines[i]).groups()
        if module.split(".")[0] not in stdlib or kind == "from" or module > "os":
            break
        at = i + 1
    return "".join(lines[:at]) + "import os\n" + "".join(lines[at:])


def apply(nb: dict) -> dict:
    """The notebook with the switch in its config cell (nb is changed too)."""
    cell = config_cell(nb)
    if cell is None or MARKER in _source(cell):
        return nb
    code = _source(cell)
    if not re.search(r"^from nlpbook import .*\butils\b", code, re.M):
        raise SwitchError("the config cell does not import utils (from nlpbook import utils)")
    lines = code.splitlines(keepends=True)
    end = _cfg_assignment_end(code)
    if not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    lines[end:end] = [SMOKE_COMMENT + "\n", SMOKE_LINE + "\n"]
    new = _with_import_os("".join(lines))
    if not code.endswith("\n"):
        new = new.rstrip("\n")
    if _tree(code) is not None and _tree(new) is None:
        raise SwitchError("the config cell would no longer parse; add the switch by hand")
    _set(cell, new)
    return nb


def dumps(nb: dict) -> str:
    """The layout Jupyter writes (indent 1, non-ASCII kept), so diffs show only real changes."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def process(path: Path, check: bool) -> bool:
    """Apply to one notebook file; True if it changed (or, with check, would change)."""
    before = path.read_text(encoding="utf-8")
    try:
        after = dumps(apply(json.loads(before)))
    except SwitchError as e:
        raise SwitchError(f"{path}: {e}") from None
    if after == before:
        return False
    if not check:
        path.write_text(after, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if needed")
    args = parser.parse_args(argv)
    try:
        changed = [p for p in args.notebooks if process(p, args.check)]
    except SwitchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in changed:
        print(("needs the switch: " if args.check else "added the switch: ") + str(path))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
