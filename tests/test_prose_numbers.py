"""Issue 20: every number in the prose is shown or sourced.

A measurement in a chapter's markdown (a decimal like 0.876, a percentage, a ratio like 11.7x, a
duration like 127 s or 5.6 min) must either (a) appear among the numbers of the same notebook's
committed text outputs, at the prose's precision (prose 0.88 is 0.876 printed; 26.4% is 0.264;
5.6 min is 337 s), or (b) sit in a clause that names its source: the original article, notebook or
paper (taken on trust); the seed spread (seeds 0-4, over five seeds), then it must be a mean, std,
min, max or seed's value of the chapter in results/spread.json; benchmarks/<name>.py, then its
committed output benchmarks/results/<name>* must hold it. A duration in a sentence naming `make
notebooks` (or `make run`, run_chapters.py) must be the chapter's time in results/notebooks_run.json.
Clauses: "; " splits a sentence, and a parenthesis is a clause inside the clause around it.
Integers without a unit are counts, not measurements; code, maths, link targets, headings, versions
and references are not prose. The notebooks are read fresh on every run: they are edited meanwhile.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# What is not prose. Masked with "_" of the same length, so that sentence offsets found in the
# masked text still index the original, which is what a failure quotes.
NOT_PROSE = [
    r"```.*?```",  # fenced code
    r"`[^`\n]*`",  # inline code (before maths: code may hold a "$")
    r"\$\$.*?\$\$",  # display maths
    r"\$[^$\n]+\$",  # inline maths
    r"!\[[^\]\n]*\]\([^)\n]*\)",  # images (the Colab badge)
    r"(?<=\])\([^)\n]*\)",  # link targets, which hold digits
    r"https?://\S+",  # bare URLs
    r"^#{1,6} [^\n]*",  # headings: their numbers are section numbers
    r"\b(?:sections?|chapters?|exercises?|steps?|eqs?\.|table|figure)\s+\d+(?:\.\d+)*",  # refs
    r"\b(?:in|see)\s+\d+\.\d+(?=[,;)]|\.\s|\.$|\s+and\b)",  # "section 6.1, `glove` in 6.3, ..."
    r"\bv\d+(?:\.\d+)*|\b\d+\.\d+\.\d+\b",  # versions: v0.1.0, 2.13.0
    # versions after a name: torchtext 0.18, Python 3.11, SNLI 1.0, CC BY-SA 4.0, LGPL 2.1
    r"\b(?:python|torch\w*|spacy|cuda|pddl|snli|by-sa|l?gpl|version|release)\s+\d+(?:\.\d+)*",
    r"\b\d{4}-\d{2}-\d{2}\b",  # dates
]
NOT_PROSE_RE = [re.compile(p, re.I | re.M | re.S) for p in NOT_PROSE]

# Where a sentence ends. "0.876" has no space after its dot, so it never splits; "e.g." is no end.
CUT = re.compile(
    r"\n[ \t]*\n"  # a blank line
    r"|\n(?=[ \t]*(?:[-*+] |\d+\. |\|))"  # a list item or a table row
    r"|(?<=[.?!])[*_)\"']*\s+(?=[A-Z(*`$_\"])"  # . ? ! before a capital, "(" or a masked span
)
ABBREVIATION = re.compile(r"(?:\be\.g|\bi\.e|\bet al|\bvs|\bcf|\beqs?)\.$", re.I)

# A number, with thousands separators and a sign, and the unit that makes it a measurement. A bare
# "s" or "h" needs a space before it ("127 s"), so that "1990s" or "2H" are not durations.
NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-−+]?)(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?(?![.,]?\d)"
    r"(?P<unit>\s?%|\s?×|x(?!\w)|k\b"  # percent, ratio, thousands
    r"|\s?(?:ms|min|mins|minutes?|sec|seconds?|hours?|days?)\b|\s[sh]\b)?"  # duration
)
# Seconds per duration unit, keyed by how the unit starts (checked in this order).
SECONDS = [("ms", 0.001), ("mi", 60), ("h", 3600), ("d", 86400), ("s", 1)]

# Sources taken on trust: the original work. They account for the numbers of their clause.
ORIGINAL = re.compile(
    r"\bthe (?:original|article|paper)\b|\bported notebook\b|\breport(?:s|ed)\b|\bet al\.", re.I
)
# Sources whose numbers are checked against what they recorded: the README's seed spread (in the
# clause) and the runner's wall times (for durations, anywhere in the sentence).
SPREAD = re.compile(
    r"\bseeds 0\s*(?:-|–|to)\s*4\b|\b(?:over|in) five seeds\b|\bevery seed measured\b"
    r"|results/spread\.json",
    re.I,
)
RUNTIME = re.compile(r"\bmake (?:notebooks|run)\b|run_chapters\.py")
BENCHMARK = re.compile(r"benchmarks/(\w+)\.py")
NO_SOURCE = "not in the outputs, no source named"
# Words before a number that make it a hyperparameter, which belongs in code (`1e-3`).
SETTING = re.compile(r"\b(?:learning rate|lr|dropout|default|clip\w*|weight decay)\b", re.I)


class Num(NamedTuple):
    text: str
    value: float  # as written, e.g. 5.6 for "5.6 min"
    digits: int  # decimals written: the precision to compare at
    kind: str  # int (a count: never checked), dec, pct, x (a ratio), dur, k (thousands: "8.8k")
    factor: float  # value * factor: a fraction for %, seconds for durations, units for "k"
    at: int = 0  # where it starts in the text


# Which printed kinds can show a prose kind: a duration only a printed duration ("6 minutes" is not
# "6000 reviews"), a percentage a percentage or a fraction, a ratio a ratio or a decimal (15.96).
SHOWN_BY = {"dec": "dec pct x", "pct": "pct dec", "x": "x dec", "dur": "dur", "k": "int dec"}


def numbers(text: str) -> list[Num]:
    found = []
    for m in NUMBER.finditer(text):
        unit = (m["unit"] or "").strip()
        sign = -1 if m["sign"] in ("-", "−") else 1
        value = sign * float(m["int"].replace(",", "") + "." + (m["frac"] or "0"))
        if unit == "%":
            kind, factor = "pct", 0.01
        elif unit in ("x", "×"):
            kind, factor = "x", 1.0
        elif unit == "k":  # "550k pairs" stays a count; "8.8k" is checked against 8,840
            kind, factor = ("k" if m["frac"] else "int"), 1000.0
        elif unit:
            kind, factor = "dur", next(s for prefix, s in SECONDS if unit.startswith(prefix))
        else:
            kind, factor = ("dec" if m["frac"] else "int"), 1.0
        found.append(Num(m.group().strip(), value, len(m["frac"] or ""), kind, factor, m.start()))
    return found


def accounts(shown: Num, prose: Num) -> bool:
    """The shown number is of a kind that can show the prose number, and is it."""
    return shown.kind in SHOWN_BY[prose.kind].split() and close(shown.value * shown.factor, prose)


def close(value: float, prose: Num) -> bool:
    """The value, in the prose's unit and at the prose's precision, is the prose number."""
    tolerance = 0.5 * 10**-prose.digits + 1e-9 * max(1.0, abs(prose.value))
    return abs(value / prose.factor - prose.value) <= tolerance


def mask(text: str) -> str:
    for pattern in NOT_PROSE_RE:
        text = pattern.sub(lambda m: re.sub(r"[^\n]", "_", m.group()), text)
    return text


def sentences(text: str):
    """(sentence, its masked twin) pairs of a markdown cell."""
    masked, start = mask(text), 0
    for cut in CUT.finditer(masked):
        if ABBREVIATION.search(masked[max(0, cut.start() - 8) : cut.start()]):
            continue
        yield text[start : cut.end()], masked[start : cut.end()]
        start = cut.end()
    yield text[start:], masked[start:]


def clauses(masked: str) -> list[tuple[int, ...]]:
    """Each character's clause, as the path of clauses that hold it: "; " starts a clause beside the
    current one, "(" one inside it, which ")" closes."""
    path, paths, count = (0,), [], 0
    for i, char in enumerate(masked):
        if char == "(" or char == ";" and masked[i + 1 : i + 2].isspace():
            count += 1
            path = (*path, count) if char == "(" else (*path[:-1], count)
        paths.append(path)
        if char == ")" and len(path) > 1:
            path = path[:-1]
    return paths


def output_text(cell: dict) -> str:
    """Stream text and text/plain of results and displays: what a reader sees printed."""
    texts = [o.get("text") or o.get("data", {}).get("text/plain", "") for o in cell["outputs"]]
    return "\n".join("".join(t) for t in texts)


def recorded(root: Path, name: str, target: str) -> tuple[str, dict]:
    """(why a number fails, the data) of results/<name>, which `make <target>` writes."""
    path = root / "results" / name
    if not path.exists():
        return f"no results/{name} (run make {target})", {}
    return f"not in results/{name}", json.loads(path.read_text(encoding="utf-8"))


def sources(root: Path, chapter: str, clause: str, sentence: str, prose: Num):
    """(why a number fails, the values) of each record named as the prose number's source. A
    record names units in its keys ("seconds": 2410), so any of its values may be the number."""
    found = []
    if scripts := BENCHMARK.findall(clause):  # a benchmark's committed output must hold it
        files = [f for s in scripts for f in sorted((root / "benchmarks/results").glob(f"{s}*"))]
        names = ", ".join(f.name for f in files) or "benchmarks/results/"
        text = "\n".join(f.read_text(encoding="utf-8") for f in files)
        found.append((f"not in {names}", [n.value * n.factor for n in numbers(text)]))
    if prose.kind == "dur" and RUNTIME.search(sentence):  # {"05": {"seconds": 406.2, ...}, ...}
        why, runs = recorded(root, "notebooks_run.json", "notebooks")
        found.append((why, [runs[chapter]["seconds"]] if chapter in runs else []))
    if SPREAD.search(clause):  # {"chapters": {"05": {metric: {"values": {seed: v}, "mean": ...}}}}
        why, spread = recorded(root, "spread.json", "spread")
        entries = spread.get("chapters", {}).get(chapter, {}).values()
        stats = [v for e in entries for v in (e["mean"], e["std"], e["min"], e["max"])]
        found.append((why, stats + [v for e in entries for v in e["values"].values()]))
    return found


def unaccounted(nb: dict, root: Path, chapter: str) -> list[tuple[int, str, str, str]]:
    """(cell index, number, why, sentence) for each measurement neither shown nor sourced."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    shown = [n for c in code for n in numbers(output_text(c))]
    missing = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for sentence, masked in sentences("".join(cell["source"])):
            paths = clauses(masked)
            for prose in (n for n in numbers(masked) if n.kind != "int"):
                if any(accounts(s, prose) for s in shown):
                    continue
                held = paths[prose.at]  # its clause and those around it; "\0" for the others
                clause = "".join(
                    c if p[-1] in held else "\0" for c, p in zip(sentence, paths, strict=True)
                )
                if ORIGINAL.search(clause):
                    continue
                records = sources(root, chapter, clause, sentence, prose)
                if any(close(value, prose) for _, values in records for value in values):
                    continue
                why = records[0][0] if records else NO_SOURCE
                if SETTING.search(" ".join(sentence[: prose.at].split()[-3:])):
                    why += " (a setting? write it as code)"
                missing.append((index, prose.text, why, " ".join(sentence.split())))
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_number_in_the_prose_is_shown_or_sourced(path: Path):
    missing = unaccounted(json.loads(path.read_text(encoding="utf-8")), ROOT, path.name[:2])
    lines = [f"cell {i}: {number} ({why})\n    {sentence}" for i, number, why, sentence in missing]
    header = f"{path.name}: {len(missing)} numbers neither shown nor sourced\n"
    assert not missing, header + "\n".join(lines)


# ---------------------------------------------------------------- self-tests on a fake notebook

OUTPUT = "accuracy 0.876 in 126.7 s; padding 26.38%; 15.96x faster; 4,810,857 weights; 360; -0.012"


def fake(markdown: str) -> dict:
    stream = {"output_type": "stream", "name": "stdout", "text": [OUTPUT]}
    code = {"cell_type": "code", "source": [], "outputs": [stream]}
    return {"cells": [code, {"cell_type": "markdown", "source": [markdown]}]}


def missing(markdown: str, root: Path, why: bool = False) -> list:
    found = unaccounted(fake(markdown), root, "05")
    return [(number, reason) if why else number for _, number, reason, _ in found]


def test_self_shown_numbers_pass_at_the_prose_precision(tmp_path):
    prose = "It scores 0.88 (0.876) in 127 s, 2.1 min. Padding is 26.4%; 16x (16.0×) faster; -0.01."
    assert missing(prose, tmp_path) == []


def test_self_absent_numbers_fail_with_their_sentence(tmp_path):
    # "4,810,857" is one number, not 857 s; only a printed duration shows a duration, not "360".
    prose = "It scores 0.91 after 857 s, about 6 minutes. It has 16 of 5,000 words."
    assert missing(prose, tmp_path) == ["0.91", "857 s", "6 minutes"]
    [(cell, _, _, sentence)] = unaccounted(fake("Fine. It reaches 7.5% here."), tmp_path, "05")
    assert (cell, sentence) == (1, "It reaches 7.5% here.")


def test_self_the_original_work_is_a_source(tmp_path):
    prose = "The article reported 0.94. The original took 2 hours. Chen et al.: 88.0%."
    assert missing(prose, tmp_path) == []


def test_self_a_source_covers_its_clause_and_the_parentheses_in_it(tmp_path):
    header = (
        "**Runtime:** about 11 minutes (measured: 683 s by `make notebooks` (`x.py`) on an EPYC;"
        " 549 s of it training), 4.7 minutes with two threads; the full profile wants a GPU (the"
        " ported notebook took 24 minutes an epoch on one)."
    )
    assert missing(header, tmp_path) == ["11 minutes", "683 s", "549 s", "4.7 minutes"]
    prose = "It got 83.1% (the paper: 88.0%); the article reported 0.94 (0.941 on dev); we 0.91."
    assert missing(prose, tmp_path) == ["83.1%", "0.91"]


def test_self_spread_numbers_must_be_in_results_spread_json(tmp_path):
    prose = (
        "Over seeds 0 to 4: 0.871 ± 0.011 (0.853–0.881; seed 2 0.864), not 0.99. In five seeds"
        " 87.1%; over five seeds 0.5; every seed measured 0.7; seeds 0-4 (`results/spread.json`) 0.6."
    )
    no_file = "no results/spread.json (run make spread)"
    assert {why for _, why in missing(prose, tmp_path, True)} == {no_file}
    stats = {"mean": 0.871, "std": 0.0112, "min": 0.8525, "max": 0.8815}
    chapter_04 = {"values": {"0": 0.99, "1": 0.5, "2": 0.7, "3": 0.6}, **stats}  # not chapter 05's
    chapters = {"05": {"acc": {"values": {"2": 0.8642}, **stats}}, "04": {"acc": chapter_04}}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "spread.json").write_text(json.dumps({"chapters": chapters}))
    why = "not in results/spread.json"
    assert missing(prose, tmp_path, True) == [(n, why) for n in ("0.99", "0.5", "0.7", "0.6")]


def test_self_runtimes_must_be_in_results_notebooks_run_json(tmp_path):
    header = (
        "**Runtime:** about 7 minutes (measured: 406 s by `make notebooks` (`run_chapters.py`) on"
        " an EPYC; one epoch 126.7 s), 4.7 minutes with two threads."
    )
    no_file = "no results/notebooks_run.json (run make notebooks)"
    assert missing(header, tmp_path, True) == [
        (n, no_file) for n in ("7 minutes", "406 s", "4.7 minutes")
    ]
    runs = {"05": {"seconds": 406.2, "threads": "1"}, "04": {"seconds": 281.0}}  # 4.7 min: not 05's
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notebooks_run.json").write_text(json.dumps(runs))
    assert missing(header, tmp_path, True) == [("4.7 minutes", "not in results/notebooks_run.json")]


def test_self_settings_in_the_prose_are_named(tmp_path):
    prose = "The full profile uses Adam's default 0.001, learning rate 0.02; it scores 0.93."
    setting = f"{NO_SOURCE} (a setting? write it as code)"
    expected = [("0.001", setting), ("0.02", setting), ("0.93", NO_SOURCE)]
    assert missing(prose, tmp_path, True) == expected


def test_self_code_maths_links_headings_versions_are_ignored(tmp_path):
    prose = (
        "## 2.5 Results\n\nWe set `lr=0.005` and $p = 0.25$ with torchtext 0.18 [see](https://x.org/1.5)."
        "\n\n```python\nx = 0.33\n```\n\n$$y = 0.75$$\n\nSection 6.1, `glove` in 6.3, has 16 of 5,000."
    )
    assert missing(prose, tmp_path) == []


def test_self_benchmark_numbers_need_a_committed_result(tmp_path):
    prose = "`benchmarks/bench_x.py` reached 0.883 in 40 minutes."
    assert missing(prose, tmp_path) == ["0.883", "40 minutes"]  # no benchmarks/results/ yet
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "bench_x.json").write_text('{"test_acc": 0.8831, "seconds": 2410}')
    assert missing(prose, tmp_path) == []


def test_self_sentences_split_on_sentence_ends_and_list_items_only():
    text = "First, e.g. 0.5 here. Then Chen et al. (2017) said. **Bold.** Next (x).\n- a 0.1\n- b"
    expected = ["First, e.g. 0.5 here.", "Then Chen et al. (2017) said.", "**Bold.**", "Next (x)."]
    assert [s.strip() for s, _ in sentences(text)] == [*expected, "- a 0.1", "- b"]
