"""Issue 20: every number in the prose is shown or sourced.

A measurement in a chapter's markdown (a decimal like 0.876, a percentage, a ratio like 11.7x, a
duration like 127 s or 5.6 min) must either (a) appear among the numbers of the same notebook's
committed text outputs, at the prose's precision (prose 0.88 is 0.876 printed; 26.4% is 0.264;
5.6 min is 337 s), or (b) sit in a clause that names its source: the original article, notebook or
paper (taken on trust); the seed spread (seeds 0-4, over five seeds), then it must be a mean, std,
min, max or seed's value of the chapter in results/spread.json; benchmarks/<name>.py, then its
committed output benchmarks/results/<name>* or the README's row for it must hold it. A duration
in a sentence naming `make notebooks` (or `make run`, run_chapters.py) must be the chapter's time in
results/notebooks_run.json.

The learner edition (issue 28) ends each chapter with boxes, read by section: the numbers of
`## Reproducibility` must be the chapter's records in results/spread.json (or, for durations, its
wall time in results/notebooks_run.json), and "see Reproducibility" in a sentence points there too;
the title's **Runtime:** is the recorded wall time, rounded or rounded up, and its **Study time:**
an estimate; `## References` is citations, not checked; in `## Notes on the original` a sentence
that names its source (the original, a reference's author or URL) is taken on trust, and in the
lesson a clause that names a reference's author is. A figure's alt text is not an output.
Clauses: "; " splits a sentence, and a parenthesis is a clause inside the clause around it.
Integers without a unit are counts, not measurements; code, maths, link targets, headings, versions
and references are not prose. The notebooks are read fresh on every run: they are edited meanwhile.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import NamedTuple

import notebook_text as nbtext
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
    r"\bthe\s+(?:original|article|paper)\b|\bported\s+notebook\b|\breport(?:s|ed)\b|\bet\s+al\.",
    re.I,
)
# Sources whose numbers are checked against what they recorded: the README's seed spread (in the
# clause) and the runner's wall times (for durations, anywhere in the sentence).
SPREAD = re.compile(
    r"\bseeds\s+0\s*(?:-|–|to)\s*4\b|\b(?:over|in)\s+five\s+seeds\b|\bevery\s+seed\s+measured\b"
    r"|results/spread\.json",
    re.I,
)
# A pointer to the chapter's Reproducibility box, whose records (checked) are then the source.
SEE_BOX = re.compile(r"\bReproducibility\b")
RUNTIME = re.compile(r"\bmake\s+(?:notebooks|run)\b|run_chapters\.py")
BENCHMARK = re.compile(r"benchmarks/(\w+)\.py")
NO_SOURCE = "not in the outputs, no source named"
# Words before a number that make it a hyperparameter, which belongs in code (`1e-3`).
SETTING = re.compile(r"\b(?:learning\s+rate|lr|dropout|default|clip\w*|weight\s+decay)\b", re.I)


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
    """Stream text and text/plain of results and displays: what a reader sees printed. A figure's
    text/plain is its alt text (`<Figure: ...>`, plots.show), written by hand: not an output."""
    texts = [
        o.get("text") or o.get("data", {}).get("text/plain", "")
        for o in cell["outputs"]
        if not any(m.startswith("image/") for m in o.get("data", {}))
    ]
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
        # ... or the README's row for it, which records what the benchmark measured.
        readme = root / "README.md"
        lines = readme.read_text(encoding="utf-8").splitlines() if readme.exists() else []
        rows = [ln for ln in lines if any(f"{s}.py" in ln for s in scripts)]
        text += "\n" + "\n".join(rows)
        names += " or its README row" if rows else ""
        found.append((f"not in {names}", [n.value * n.factor for n in numbers(text)]))
    if prose.kind == "dur" and RUNTIME.search(sentence):  # {"05": {"seconds": 406.2, ...}, ...}
        found.append(run_record(root, chapter))
    if SPREAD.search(clause):  # {"chapters": {"05": {metric: {"values": {seed: v}, "mean": ...}}}}
        found.append(spread_values(root, chapter))
    if SEE_BOX.search(sentence):  # "about 0.80 (see Reproducibility)": the box's records hold it
        found.append(spread_values(root, chapter))
        if prose.kind == "dur":
            found.append(run_record(root, chapter))
    return found


def run_record(root: Path, chapter: str) -> tuple[str, list[float]]:
    """The chapter's wall time with one thread (make notebooks) and, where it was measured, with
    two (make timings-two-threads), as a student's Jupyter runs it."""
    why, runs = recorded(root, "notebooks_run.json", "notebooks")
    seconds = [runs[chapter]["seconds"]] if chapter in runs else []
    two = root / "results" / "notebooks_run_two_threads.json"
    if two.exists():
        runs = json.loads(two.read_text(encoding="utf-8"))
        seconds += [runs[chapter]["seconds"]] if chapter in runs else []
        why += " or results/notebooks_run_two_threads.json"
    return why, seconds


def spread_values(root: Path, chapter: str) -> tuple[str, list[float]]:
    why, spread = recorded(root, "spread.json", "spread")
    entries = spread.get("chapters", {}).get(chapter, {}).values()
    stats = [v for e in entries for v in (e["mean"], e["std"], e["min"], e["max"])]
    return why, stats + [v for e in entries for v in e["values"].values()]


def runtime_ok(seconds: list[float], prose: Num) -> bool:
    """A title's "about N minutes": the recorded wall time rounded, or rounded up (a 10 s chapter
    runs in "about 1 minute")."""
    stated = [s / prose.factor for s in seconds]
    return any(close(s * prose.factor, prose) or math.ceil(s) == prose.value for s in stated)


def label(text: str, at: int) -> str:
    """The bold label ("**Runtime:**") that the number at `at` follows on its line, or ""."""
    line = text[text.rfind("\n", 0, at) + 1 : at]
    found = re.findall(r"\*\*([^*]+?):?\*\*:?", line)
    return found[-1].strip().lower() if found else ""


def unaccounted(nb: dict, root: Path, chapter: str) -> list[tuple[int, str, str, str]]:
    """(cell index, number, why, sentence) for each measurement neither shown nor sourced."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    shown = [n for c in code for n in numbers(output_text(c))]
    names, urls = nbtext.cited_names(nbtext.reference_entries(nb))
    missing = []
    for index, section, part in nbtext.markdown_parts(nb):
        if section == nbtext.REFERENCES:  # years, volumes, pages, arXiv ids: citations, not results
            continue
        for sentence, masked in sentences(part):
            paths = clauses(masked)
            for prose in (n for n in numbers(masked) if n.kind != "int"):
                if any(accounts(s, prose) for s in shown):
                    continue
                held = paths[prose.at]  # its clause and those around it; "\0" for the others
                clause = "".join(
                    c if p[-1] in held else "\0" for c, p in zip(sentence, paths, strict=True)
                )
                why = account(root, chapter, section, index, sentence, clause, prose, names, urls)
                if why is None:
                    continue
                if SETTING.search(" ".join(sentence[: prose.at].split()[-3:])):
                    why += " (a setting? write it as code)"
                missing.append((index, prose.text, why, " ".join(sentence.split())))
    return missing


def account(root, chapter, section, index, sentence, clause, prose, names, urls) -> str | None:
    """None if a number the outputs do not show has a source where it stands, else why not.

    - `## Reproducibility`, the box of bookkeeping: the chapter's record in results/spread.json
      and, for a duration, its wall time in results/notebooks_run.json.
    - the title cell: **Runtime:** is the recorded wall time; **Study time:** an estimate.
    - `## Notes on the original`: a sentence that names its source (the original, a reference's
      author or URL) is taken on trust.
    - the lesson: a clause that names the original work or a reference is taken on trust; one that
      says "see Reproducibility" (or names the seed spread) is checked against the records.
    """
    sourced = ORIGINAL.search(clause) or nbtext.names_a_reference(clause, names, urls)
    if section == nbtext.REPRODUCIBILITY:
        why, values = spread_values(root, chapter)
        if prose.kind == "dur":
            why, values = run_record(root, chapter)
        return None if any(close(v, prose) for v in values) else why
    if index == 0 and (kind := label(sentence, prose.at)):
        if kind.startswith("study"):
            return None
        if kind.startswith("runtime") and prose.kind == "dur":
            why, values = run_record(root, chapter)
            return None if runtime_ok(values, prose) else why
    if section == nbtext.NOTES:
        sourced = ORIGINAL.search(sentence) or nbtext.names_a_reference(sentence, names, urls)
    if sourced:
        return None
    records = sources(root, chapter, clause, sentence, prose)
    if any(close(value, prose) for _, values in records for value in values):
        return None
    return records[0][0] if records else NO_SOURCE


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
        "Over seeds 0 to 4: 0.871 ± 0.011 (0.853–0.881; seed 2 0.864), not 0.99. In five\nseeds"
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
    two = {"05": {"seconds": 282.0, "threads": "2"}}  # 4.7 minutes: chapter 05 with two threads
    (tmp_path / "results" / "notebooks_run_two_threads.json").write_text(json.dumps(two))
    assert missing(header, tmp_path, True) == []
    two["05"]["seconds"] = 300.0
    (tmp_path / "results" / "notebooks_run_two_threads.json").write_text(json.dumps(two))
    assert missing(header, tmp_path, True) == [
        ("4.7 minutes", "not in results/notebooks_run.json or results/notebooks_run_two_threads.json")
    ]


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
    (results / "bench_x.json").unlink()  # or the README's row for the benchmark holds them
    readme = (
        "| `bench_y.py` | 0.883 in 40 minutes |\n| `bench_x.py` | test accuracy 0.883, 40 min |\n"
    )
    (tmp_path / "README.md").write_text(readme)
    assert missing(prose, tmp_path) == []
    (tmp_path / "README.md").write_text(readme.replace("0.883, 40", "0.884, 41"))
    assert missing(prose, tmp_path, True) == [
        (n, "not in benchmarks/results/ or its README row") for n in ("0.883", "40 minutes")
    ]


def test_self_sentences_split_on_sentence_ends_and_list_items_only():
    text = "First, e.g. 0.5 here. Then Chen et al. (2017) said. **Bold.** Next (x).\n- a 0.1\n- b"
    expected = ["First, e.g. 0.5 here.", "Then Chen et al. (2017) said.", "**Bold.**", "Next (x)."]
    assert [s.strip() for s, _ in sentences(text)] == [*expected, "- a 0.1", "- b"]


# ---------------------------------------------------------------- issue 28: the end sections


def chapter(*markdown: str) -> dict:
    """A fake chapter: a title cell, the code cell of OUTPUT, then one markdown cell each."""
    stream = {"output_type": "stream", "name": "stdout", "text": [OUTPUT]}
    code = {"cell_type": "code", "source": [], "outputs": [stream]}
    cells = [{"cell_type": "markdown", "source": [m]} for m in markdown]
    return {"cells": [cells[0], code, *cells[1:]]}


def records(root: Path) -> None:
    """Chapter 05's records: a test accuracy over five seeds and a 410 s run."""
    (root / "results").mkdir()
    stats = {"mean": 0.8125, "std": 0.0105, "min": 0.7983, "max": 0.8217}
    metric = {"values": {"0": 0.8017, "1": 0.8183}, **stats}
    spread = {"chapters": {"05": {"test accuracy": metric}, "04": {"x": {**metric, "mean": 0.5}}}}
    (root / "results" / "spread.json").write_text(json.dumps(spread))
    runs = {
        "05": {"seconds": 410.0, "cpu": "AMD EPYC", "date": "2026-11-30"},
        "04": {"seconds": 62},
    }
    (root / "results" / "notebooks_run.json").write_text(json.dumps(runs))


def found(nb: dict, root: Path, why: bool = False) -> list:
    return [(n, r) if why else n for _, n, r, _ in unaccounted(nb, root, "05")]


BOX = (
    "## Reproducibility\n\nThe outputs above come from one run: 410 s (6.8 minutes) on a 2-core AMD"
    " EPYC, 2026-11-30, seed 0, one thread. Over seeds 0-4 the test accuracy was 0.81 ± 0.01"
    " (0.798 to 0.822; seed 1: 0.818). Re-run with `make notebooks`; `NLPBOOK_SEED=3`; `make spread`."
)


def test_self_the_reproducibility_box_is_checked_against_the_records(tmp_path):
    nb = chapter("# Chapter 05: x", BOX)
    no_run, no_spread = (
        "no results/notebooks_run.json (run make notebooks)",
        "no results/spread.json (run make spread)",
    )
    assert found(nb, tmp_path, True) == [("410 s", no_run), ("6.8 minutes", no_run)] + [
        (n, no_spread) for n in ("0.81", "0.01", "0.798", "0.822", "0.818")
    ]
    records(tmp_path)
    assert found(nb, tmp_path) == []
    wrong = BOX.replace("0.798", "0.789").replace("410 s", "401 s").replace("0.818", "0.5")
    # 0.5 is chapter 04's mean, not chapter 05's: each number is the chapter's own record
    assert found(chapter("# Chapter 05: x", wrong), tmp_path) == ["401 s", "0.789", "0.5"]


def test_self_see_reproducibility_points_at_the_records(tmp_path):
    records(tmp_path)
    lesson = "The LSTM reaches about 0.81 (see Reproducibility), never above 0.822; it beats 0.70."
    assert found(chapter("# Chapter 05: x", lesson), tmp_path) == ["0.70"]
    wrong = "The LSTM reaches about 0.85 (see Reproducibility)."
    assert found(chapter("# Chapter 05: x", wrong), tmp_path, True) == [
        ("0.85", "not in results/spread.json")
    ]


def test_self_references_are_citations_and_name_their_authors(tmp_path):
    references = (
        "## References\n\n- Chen, Q., Zhu, X., Ling, Z. et al. (2017). Enhanced LSTM for natural"
        " language inference. ACL 2017, pp. 1657–1668. arXiv:1609.06038. https://aclanthology.org/P17-1152\n"
        "- Ben Trevett (2019). *PyTorch Sentiment Analysis*, notebook 2."
        " https://github.com/bentrevett/pytorch-sentiment-analysis\n"
    )
    lesson = "Trevett's notebook reached 86.8%; Chen and colleagues 88.0%; we got 0.93 (0.876)."
    nb = chapter("# Chapter 05: x", lesson, references)
    assert found(nb, tmp_path) == ["0.93"]  # a name from References is a source; no entry is prose


def test_self_notes_on_the_original_name_their_source_per_sentence(tmp_path):
    notes = (
        "## Notes on the original\n\nTrevett's notebook trains for 5 epochs and reports 86.8%."
        " Its test split was used for early stopping, worth about 0.4%."
        " The article reached 0.94 on dev."
    )
    references = (
        "## References\n\n- Ben Trevett (2019). PyTorch Sentiment Analysis. https://x.org\n"
    )
    assert found(chapter("# Chapter 05: x", notes, references), tmp_path) == ["0.4%"]


def test_self_title_runtime_is_the_recorded_one_and_study_time_an_estimate(tmp_path):
    records(tmp_path)  # 410 s: 6.8 minutes
    title = "# Chapter 05: x\n\n**Runtime:** about {} minutes on a 2-core CPU · **Study time:** about 2.5 hours"
    for stated, ok in (("7", True), ("6.8", True), ("6", False), ("9", False)):
        assert found(chapter(title.format(stated)), tmp_path) == (
            [] if ok else [f"{stated} minutes"]
        )
    runs = json.loads((tmp_path / "results" / "notebooks_run.json").read_text())
    runs["05"]["seconds"] = 10.4  # a 10 s chapter runs in "about 1 minute" (rounded up)
    (tmp_path / "results" / "notebooks_run.json").write_text(json.dumps(runs))
    assert found(chapter(title.format("1")), tmp_path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_self_a_number_planted_in_a_real_chapter_fails(path: Path):
    """A wrong number put into a copy of the chapter, in its lesson, its Reproducibility box (one is
    added if it has none yet) and next to a "see Reproducibility", is reported."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    chapter_id = path.name[:2]
    before = {n for _, n, _, _ in unaccounted(nb, ROOT, chapter_id)}
    lesson = next(i for i, c in enumerate(nb["cells"]) if i > 0 and c["cell_type"] == "markdown")
    nb["cells"][lesson]["source"] = [*nb["cells"][lesson]["source"], "\n\nIt reaches 0.9731 here."]
    box = [p for p in nbtext.markdown_parts(nb) if p.section == nbtext.REPRODUCIBILITY]
    planted = "\n\nOver seeds 0-4 the accuracy was 0.9732 ± 0.0123; the run took 9876 s."
    if box:
        nb["cells"][box[-1].cell]["source"] = [*nb["cells"][box[-1].cell]["source"], planted]
    else:
        nb["cells"].append({"cell_type": "markdown", "source": ["## Reproducibility" + planted]})
    nb["cells"].append({"cell_type": "markdown", "source": ["About 0.9733 (see Reproducibility)."]})
    after = {n for _, n, _, _ in unaccounted(nb, ROOT, chapter_id)}
    assert after - before == {"0.9731", "0.9732", "0.0123", "9876 s", "0.9733"}


def test_self_a_figures_alt_text_shows_no_number(tmp_path):
    alt = "Validation accuracy rises to 0.91 by epoch 3"
    figure = {"image/png": "iVBORw0KGgo=", "text/plain": f"<Figure: {alt}>"}
    nb = fake("It reaches 0.91; 0.876 is printed.")
    nb["cells"][0]["outputs"].append(
        {"output_type": "display_data", "data": figure, "metadata": {}}
    )
    assert [n for _, n, _, _ in unaccounted(nb, tmp_path, "05")] == ["0.91"]
