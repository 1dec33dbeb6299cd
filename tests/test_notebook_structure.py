"""Every chapter follows the series' conventions (ARCHITECTURE.md): a title with goals and runtime,
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
    assert all_cells[0]["cell_type"] == "markdown" and title.startswith(f"# Chapter {chapter}"), (
        "title cell"
    )
    assert re.search(r"runtime", title, re.I), "the title cell states the runtime"
    assert re.search(r"learn|goals", title, re.I), "the title cell states the learning goals"
    code = [c for c in all_cells if c["cell_type"] == "code"]
    assert "utils.get_profile()" in source(code[1]), (
        "the code cell after the install block reads NLPBOOK_PROFILE"
    )
    assert not any("import *" in source(c) for c in code), "explicit imports only"
    assert any(f'chapter="{chapter}"' in source(c) for c in code), (
        "a headline check_band for make run"
    )
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
    (
        "02",
        "evaluate",
    ): "the hand-written loop is chapter 02's lesson; train.evaluate generalises it",
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
    assert (
        code[0].startswith("# Colab, or Jupyter without this repository")
        and "import nlpbook" in code[0]
    )
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


# ---------------------------------------------------------------- issue 28/29: cells for the learner

MAX_CODE_LINES = 25


def long_cells(nb: dict) -> list[str]:
    """Code cells over MAX_CODE_LINES lines (one idea per cell)."""
    return [
        f"cell {i}: {n} lines"
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code"
        and (n := len(source(c).rstrip("\n").splitlines())) > MAX_CODE_LINES
    ]


CHECKS = {"check", "check_band"}  # utils.check, utils.check_band
SHOWS = {"print", "display"}
# Calls that only rearrange numbers already there: a step that calls anything else computes.
BUILTINS = {"abs", "min", "max", "len", "sum", "round", "all", "any", "int", "float", "bool"}
BUILTINS |= {"sorted", "list", "tuple", "set", "dict", "zip", "range", "enumerate", "str"}


def _parse(code: str):
    import ast

    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _bound(tree) -> set[str]:
    """Names a cell binds at its top level or in its loops: assignments, for/with targets, defs."""
    import ast

    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def _call_name(node) -> str:
    import ast

    func = node.func if isinstance(node, ast.Call) else None
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _kind(node, later: set[str]) -> str:
    """What one statement of a would-be check cell does: "check" (utils.check, check_band, or a
    print of a verdict such as `print("claim:", a > b)`), "print" (a print or bare expression that
    reads a name), "aux" (binds, without calling more than a builtin, names no later cell reads;
    or prints only constants),
    or "other" (anything else: the cell does work of its own)."""
    import ast

    if isinstance(node, ast.With):
        kinds = {_kind(s, later) for s in node.body}
        return "other" if "other" in kinds else next(iter(kinds - {"aux"}), "aux")
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        bound = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        calls = [n for n in ast.walk(node.value) if isinstance(n, ast.Call)] if node.value else []
        computes = any(
            _call_name(c) not in BUILTINS or isinstance(c.func, ast.Attribute) for c in calls
        )
        return "other" if computes or bound & later or not bound else "aux"
    if not isinstance(node, ast.Expr):
        return "other"
    value = node.value
    if not isinstance(value, ast.Call):
        return "print" if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript)) else "other"
    name = _call_name(value)
    if name in CHECKS:
        return "check"
    if name not in SHOWS:
        return "other"
    verdict = (ast.Compare, ast.BoolOp)
    for arg in value.args:
        if (
            isinstance(arg, verdict)
            or isinstance(arg, ast.Call)
            and _call_name(arg) in ("all", "any")
        ):
            return "check"
        if isinstance(arg, ast.UnaryOp) and isinstance(arg.op, ast.Not):
            return "check"
    reads = any(isinstance(n, ast.Name) for a in value.args for n in ast.walk(a))
    return "print" if reads else "aux"


def _shown_names(tree) -> set[str]:
    """Names a cell prints or checks: read in a print/display/check call, or its last bare
    expression (what Jupyter displays)."""
    import ast

    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in CHECKS | SHOWS:
            names |= _arg_names(node)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1].value
        names |= _arg_names(last) if isinstance(last, ast.Call) else _arg_names(ast.Tuple([last]))
    return names


def _arg_names(call) -> set[str]:
    """Names read by a call's arguments (its values, not the functions it calls)."""
    import ast

    args = [*getattr(call, "args", []), *(k.value for k in getattr(call, "keywords", []))]
    if isinstance(call, ast.Tuple):
        args = call.elts
    callees = {id(n.func) for a in args for n in ast.walk(a) if isinstance(n, ast.Call)}
    return {
        n.id for a in args for n in ast.walk(a) if isinstance(n, ast.Name) and id(n) not in callees
    }


def reprint_cells(nb: dict) -> list[str]:
    """Code cells that only re-check or re-print a number the code cell before them computed: every
    statement is a check (`utils.check`, `check_band`, a printed verdict such as `print("claim:",
    a > b)`), a print of a name or a formatted number, or a step binding names no later cell
    reads; and a check reads a name (not bound in the cell itself) that the previous code cell
    bound, or a print one that it printed or checked (or bound, if it is a `# NBVAL_IGNORE_OUTPUT`
    cell). Merge such a check into the computing cell (one `✓ claim` line
    there). A cell that computes what it checks, `print(model)` after a cell that did not print
    it, or a figure of the previous cell's result, stays a cell of its own."""
    import ast

    code = [(i, c, _parse(source(c))) for i, c in enumerate(nb["cells"])]
    code = [(i, t) for i, c, t in code if c["cell_type"] == "code" and source(c).strip()]
    reads = [
        {n.id for n in ast.walk(t) if isinstance(n, ast.Name)} if t else set() for _, t in code
    ]
    problems = []
    for k in range(1, len(code)):
        (_, previous), (index, tree) = code[k - 1], code[k]
        if tree is None or previous is None:
            continue
        later = set().union(*reads[k + 1 :])
        kinds = [_kind(s, later) for s in tree.body]
        if "other" in kinds or not {"check", "print"} & set(kinds):
            continue
        own = _bound(tree)
        used = set()
        for statement in (s for s, kind in zip(tree.body, kinds, strict=True) if kind != "aux"):
            for node in ast.walk(statement):  # the print or check calls, also inside a with
                if isinstance(node, ast.Expr):
                    value = node.value
                    used |= _arg_names(value if isinstance(value, ast.Call) else ast.Tuple([value]))
        used -= own
        # A check of what the previous cell computed, shown or not; a print of what it showed.
        # (after a `# NBVAL_IGNORE_OUTPUT` cell, a print of what it computed is nbval's old
        # second cell: a utils.check in the first one replaces it).
        ignored = source(nb["cells"][code[k - 1][0]]).lstrip().startswith("# NBVAL_IGNORE_OUTPUT")
        earlier = _shown_names(previous)
        if "check" in kinds or ignored:
            earlier |= _bound(previous)
        shared = sorted(used & earlier)
        if shared:
            what = "re-checks" if "check" in kinds else "re-prints"
            problems.append(
                f"cell {index} only {what} {', '.join(shared)} from the cell before it:"
                " merge it into that cell"
            )
    return problems


IMAGE = re.compile(r"^image/")
IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
ALT = re.compile(r"""\balt\s*=\s*(["'])(.*?)\1""", re.I | re.S)


def figure_problems(nb: dict) -> list[str]:
    """Every image output carries alt text (the `image/*` metadata's "alt", and the `alt` of every
    `<img>` in its HTML: plots.show writes both), and the cell after a figure is markdown that
    captions it; markdown images have alt text and point at no file (Colab opens one notebook
    alone): an https address, a data URI or an attachment of the cell."""
    problems = []
    cells = nb["cells"]
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            for alt, target in re.findall(r"!\[([^\]]*)\]\(([^)\s]*)", source(cell)):
                if not alt.strip():
                    problems.append(
                        f"cell {index}: a markdown image without alt text: {target[:60]}"
                    )
                if target.startswith("attachment:"):
                    if target.split(":", 1)[1] not in cell.get("attachments", {}):
                        problems.append(f"cell {index}: no attachment {target}")
                elif not target.startswith(("https://", "data:")):
                    problems.append(f"cell {index}: a markdown image links a file: {target}")
            continue
        if cell["cell_type"] != "code":
            continue
        figures = 0
        for output in cell.get("outputs", []):
            data, meta = output.get("data", {}), output.get("metadata", {})
            images = [m for m in data if IMAGE.match(m)]
            tags = IMG_TAG.findall("".join(data.get("text/html", "")))
            if not images and not tags:
                continue
            figures += 1
            for mime in images:
                alt = meta.get(mime, {}).get("alt", "") if isinstance(meta.get(mime), dict) else ""
                if not str(alt).strip():
                    problems.append(f"cell {index}: an {mime} output without alt text")
            for tag in tags:
                found = ALT.search(tag)
                if not found or not found.group(2).strip():
                    problems.append(f"cell {index}: an <img> output without alt text")
        if figures:
            after = cells[index + 1] if index + 1 < len(cells) else None
            if after is None or after["cell_type"] != "markdown" or not source(after).strip():
                problems.append(
                    f"cell {index}: a figure with no markdown cell after it (a caption)"
                )
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_code_cell_over_25_lines(path: Path):
    problems = long_cells(json.loads(path.read_text(encoding="utf-8")))
    assert not problems, f"{path.name}: split these into one idea per cell: {problems}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_only_rechecks_the_previous_one(path: Path):
    problems = reprint_cells(json.loads(path.read_text(encoding="utf-8")))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_alt_text_and_a_caption(path: Path):
    problems = figure_problems(json.loads(path.read_text(encoding="utf-8")))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


# ---------------------------------------------------------------- each rule can fail


def code(text: str, outputs: list | None = None) -> dict:
    return {"cell_type": "code", "source": [text], "outputs": outputs or [], "metadata": {}}


def md(text: str) -> dict:
    return {"cell_type": "markdown", "source": [text], "metadata": {}}


def test_self_a_long_cell_fails():
    nb = {"cells": [code("x = 1\n" * 25), md("text"), code("x = 1\n" * 26)]}
    assert long_cells(nb) == ["cell 2: 26 lines"]


PRINTED = [{"output_type": "stream", "name": "stdout", "text": ["test accuracy 0.802\n"]}]


def test_self_a_cell_that_only_rechecks_the_previous_one_fails():
    train = code(
        "# NBVAL_IGNORE_OUTPUT\nacc, history = fit(model)\nscratch_acc = fit(scratch)[0]\n"
        'print(f"LSTM {acc:.3f}, scratch {scratch_acc:.3f}")',
        PRINTED,
    )
    quiet = code("acc, history = fit(model)\nscratch_acc = fit(scratch)[0]")
    recheck = code(
        'utils.check("both LSTMs within 0.04", abs(acc - scratch_acc) <= 0.04)\n'
        'utils.check_band("test accuracy", acc, 0.76, 0.88, chapter="02")'
    )
    verdict = code(
        "with torch.no_grad():\n    unused = 1\n"
        '    print("the LSTMs land within 0.04:", abs(acc - scratch_acc) <= 0.04)'
    )
    reprint = code('print(f"test accuracy {acc:.3f}")')
    bare = code("acc")
    cells = [train, md("The LSTM learns."), recheck, train, verdict, train, reprint, train, bare]
    cells += [quiet, recheck, quiet, reprint]  # a check of a number computed quietly is one too
    assert reprint_cells({"cells": cells}) == [
        "cell 2 only re-checks acc, scratch_acc from the cell before it: merge it into that cell",
        "cell 4 only re-checks acc, scratch_acc from the cell before it: merge it into that cell",
        "cell 6 only re-prints acc from the cell before it: merge it into that cell",
        "cell 8 only re-prints acc from the cell before it: merge it into that cell",
        "cell 10 only re-checks acc, scratch_acc from the cell before it: merge it into that cell",
    ]


def test_self_checks_in_the_computing_cell_and_new_pictures_pass():
    merged = code(
        "acc = fit(model)\n"
        'utils.check("the LSTM beats the majority class", acc > 0.5, f"{acc:.3f}")',
        PRINTED,
    )
    cells = [
        merged,
        code('plots.show(plots.plot_history(history), alt="loss falls")'),  # a new picture of it
        code("model = LSTM(10)"),  # prints nothing ...
        code("print(model)"),  # ... so this shows the architecture for the first time
        code('acc = fit(model)\nprint(f"{acc:.3f}")', PRINTED),
        # computes what it checks (with the previous cell's model), though no later cell reads it
        code('seconds = time_pass(model)\nutils.check("fast", seconds < 1, f"{seconds:.1f} s")'),
        code('best = max(acc, 0.5)\nprint(f"{best:.2f}")'),  # computes `best`, used below
        code("plots.show(plots.bars(best), alt='x')"),
        code("z = 3\nprint(z)", PRINTED),
        code('utils.check("acc above 0.5", acc > 0.5)'),  # checks an older cell's number only
    ]
    assert reprint_cells({"cells": cells}) == []


PNG = "iVBORw0KGgo="


def figure(alt: str | None, html_alt: str | None = "same") -> dict:
    data = {"image/png": PNG, "text/plain": "<Figure>"}
    meta = {"image/png": {"alt": alt}} if alt is not None else {}
    if html_alt is not None:
        attr = "" if html_alt == "none" else f' alt="{alt if html_alt == "same" else html_alt}"'
        data["text/html"] = f'<img src="data:image/png;base64,{PNG}"{attr} />'
    return {"output_type": "display_data", "data": data, "metadata": meta}


def test_self_figures_without_alt_text_or_caption_fail():
    shown = code('plots.show(fig, alt="x")', [figure("Loss falls over 8 epochs")])
    bare = code("plt.plot(x)", [figure(None, html_alt=None)])  # plt.show(): no alt anywhere
    no_html_alt = code("show(fig)", [figure("Loss falls", html_alt="none")])
    empty = code("show(fig)", [figure(" ", html_alt=" ")])
    nb = {
        "cells": [
            shown,
            md("Look at the dip."),
            bare,
            md("c"),
            no_html_alt,
            md("c"),
            empty,
            code("1"),
        ]
    }
    assert figure_problems(nb) == [
        "cell 2: an image/png output without alt text",
        "cell 4: an <img> output without alt text",
        "cell 6: an image/png output without alt text",
        "cell 6: an <img> output without alt text",
        "cell 6: a figure with no markdown cell after it (a caption)",
    ]
    assert figure_problems({"cells": [shown]}) == [
        "cell 0: a figure with no markdown cell after it (a caption)"
    ]


def test_self_markdown_images_need_alt_text_and_no_file_links():
    badge = (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://x)"
    )
    attached = md("![The ESIM architecture](attachment:esim.svg)")
    attached["attachments"] = {"esim.svg": {"image/svg+xml": "<svg/>"}}
    cells = [
        md(badge),
        attached,
        md("![](https://x.org/a.png)"),
        md("![LSTM cell](figures/lstm.svg)"),
    ]
    cells.append(md("![Strip](attachment:strip.png)"))
    assert figure_problems({"cells": cells}) == [
        "cell 2: a markdown image without alt text: https://x.org/a.png",
        "cell 3: a markdown image links a file: figures/lstm.svg",
        "cell 4: no attachment attachment:strip.png",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_self_a_recheck_planted_in_a_real_chapter_fails(path: Path):
    """After the first code cell that prints and binds a name, a cell that checks that name."""
    import ast

    nb = json.loads(path.read_text(encoding="utf-8"))
    before = reprint_cells(nb)

    def stored(cell: dict) -> list[str]:
        tree = _parse(source(cell)) if cell["cell_type"] == "code" and cell["outputs"] else None
        found = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)] if tree else []
        return sorted(n for n in found if n in _bound(tree)) if tree else []

    index = next(i for i, c in enumerate(nb["cells"]) if stored(c))
    names = stored(nb["cells"][index])
    planted = code(f'utils.check("{names[0]} is set", {names[0]} is not None)')
    nb["cells"].insert(index + 1, planted)
    after = reprint_cells(nb)
    assert len(after) == len(before) + 1
    assert f"cell {index + 1} only re-checks {names[0]} from the cell before it" in "\n".join(after)


def test_a_band_check_in_an_ignored_cell_can_still_fail(monkeypatch):
    """A headline `utils.check_band` moved into the cell that computes its number sits in a
    `# NBVAL_IGNORE_OUTPUT` cell, where nbval no longer compares its `...: False` line: there it
    must raise under NLPBOOK_STRICT_CHECKS=1 (make test, CI), as utils.check does."""
    from nlpbook import utils

    ignored = [
        f"{path.name} cell {i}"
        for path in NOTEBOOKS
        for i, cell in enumerate(cells(path))
        if cell["cell_type"] == "code"
        and "check_band(" in source(cell)
        and source(cell).lstrip().startswith("# NBVAL_IGNORE_OUTPUT")
    ]
    if not ignored:
        pytest.skip("every check_band sits in a cell nbval compares")
    monkeypatch.setenv("NLPBOOK_STRICT_CHECKS", "1")
    monkeypatch.delenv("NLPBOOK_RESULTS", raising=False)
    with pytest.raises(AssertionError):
        utils.check_band("a planted number", 0.5, 0.8, 0.9)
    utils.check_band("a number in its band", 0.85, 0.8, 0.9)  # and passes quietly when it holds
