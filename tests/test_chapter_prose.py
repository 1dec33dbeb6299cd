"""Issue 28: the chapters read as lessons, and every source is named.

Each rule is a function from a notebook to its problems (cell index and what is wrong), run on
every chapter and, on a planted example, shown to fail:

- references: a `## References` section of bulleted entries, each with a year, at least one with a
  URL; the prose that first says "the article", "the original" or "the ported notebook" names a
  reference (an author or its URL) there or before; `## Notes on the original` names its source.
- provenance: no "committed run", "seed 2", "seeds 3 and 4", "every seed measured" outside the
  Reproducibility box (and the Notes and References, which are about the sources); the title cell
  holds no run provenance ("measured", `make notebooks`, a CPU's name, a seed).
- end sections: Summary, Exercises, Notes on the original, References, Reproducibility, in this
  order, the last sections of the chapter; the Reproducibility box names the machine, date and
  wall time of the chapter's run in results/notebooks_run.json, a number of its seed spread in
  results/spread.json, and `make notebooks`, `NLPBOOK_SEED`, `make spread`.
- title: the Colab badge, "where this sits" (another chapter or the series named), "You will learn
  to", prerequisites, and one line `**Runtime:** about N minutes ... · **Study time:** about N hours`;
  the "where we are" strip `diagrams.pipeline_strip("NN")` among the first code cells.
- equations are cited by what they say, not as "eqs. 11-13".

The numbers in the prose are tests/test_prose_numbers.py's; the code cells and figures are
tests/test_notebook_structure.py's. The notebooks are read fresh on every run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import notebook_text as nbtext
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# "the original" as the ported work, not "the original order" or "the original word".
ORIGINAL_WORK = re.compile(
    r"\bthe\s+(?:article|ported\s+(?:notebook|code|material|tutorial)s?|original"
    r"(?!\s+(?:word|sentence|order|text|review|length|index|position|sequence|token|value|shape"
    r"|vector|scale|label|pair|premise|hypothesis|form|case|input|string|one|batch|tensor|weight"
    r"|row|column|number|size|dimension|space|embedding|code)s?\b))\b",
    re.I,
)


def lesson_parts(nb: dict) -> list[nbtext.Part]:
    """The markdown the learner reads as the lesson: all but the boxes about sources and runs."""
    about = (nbtext.NOTES, nbtext.REFERENCES, nbtext.REPRODUCIBILITY)
    return [p for p in nbtext.markdown_parts(nb) if p.section not in about]


def reference_problems(nb: dict) -> list[str]:
    problems = []
    parts = nbtext.markdown_parts(nb)
    mentions = [
        (p, m) for p in lesson_parts(nb) for m in ORIGINAL_WORK.finditer(nbtext.mask_code(p.text))
    ]
    entries = nbtext.reference_entries(nb)
    if nbtext.REFERENCES not in nbtext.headings(nb):
        said = f" (cell {mentions[0][0].cell} says {mentions[0][1].group()!r})" if mentions else ""
        return [f"no ## References section{said}"]
    if not entries:
        return ["## References has no bulleted entry"]
    problems += [
        f"a reference without a year: {e[:70]!r}"
        for e in entries
        if not nbtext.YEAR.search(e) and not UNRECORDED.search(e)
    ]
    if any(UNRECORDED.search(e) for e in entries):
        # The ported material is listed and says plainly that its author and address are unknown:
        # the reader is pointed at that admission, which is all a citation can honestly give.
        return problems
    if not any(nbtext.URL.search(e) for e in entries):
        problems.append("no reference has a URL")
    names, urls = nbtext.cited_names(entries)
    if mentions:
        first, match = mentions[0]
        before = [p.text for p in parts if p.cell < first.cell] + [first.text]
        if not any(nbtext.names_a_reference(t, names, urls) for t in before):
            problems.append(
                f"cell {first.cell} says {match.group()!r} but names no reference (an author or a "
                f"URL of ## References) there or before it"
            )
    notes = nbtext.section_text(nb, nbtext.NOTES)
    if notes and not nbtext.names_a_reference(notes, names, urls):
        problems.append("## Notes on the original names none of the references")
    return problems


# A ported source whose author and address were never recorded (chapters 04 and 05): its entry must
# say so in these words, and it then needs no year; every other entry still does.
UNRECORDED = re.compile(r"^The ported (?:notebook|article):.*\bwere not recorded\b", re.S)


# Run bookkeeping, which belongs in the Reproducibility box (ARCHITECTURE.md, "How a notebook is validated").
PROVENANCE = re.compile(
    r"\bcommitted\s+run\b|\bseeds?\s+\d+|\bevery\s+(?:seed\s+measured|measured\s+seed)\b", re.I
)
# ... and what the title cell must not hold besides.
TITLE_PROVENANCE = re.compile(
    r"\bmeasured\b|\bmake\s+(?:notebooks|run|spread)\b|run_chapters|\bcommitted\b"
    r"|\b(?:EPYC|Xeon|Ryzen|Threadripper|Intel|AMD|Core\s+i\d|Apple\s+M\d|Graviton)\b",
    re.I,
)


def provenance_problems(nb: dict) -> list[str]:
    problems = []
    for part in lesson_parts(nb):
        for m in PROVENANCE.finditer(nbtext.mask_code(part.text)):
            where = "the title cell" if part.cell == 0 else f"cell {part.cell}"
            said = " ".join(m.group().split())
            problems.append(f"{where}: {said!r} outside the Reproducibility box")
    title = nbtext.source(nb["cells"][0])
    for m in TITLE_PROVENANCE.finditer(re.sub(r"\]\([^)\n]*\)", "]", title)):
        problems.append(f"the title cell holds run provenance: {m.group()!r}")
    return sorted(set(problems), key=problems.index)


def end_section_problems(nb: dict) -> list[str]:
    found = nbtext.headings(nb)
    missing = [s for s in nbtext.END_SECTIONS if s not in found]
    if missing:
        return [f"no ## {s}" for s in missing]
    last = found[-len(nbtext.END_SECTIONS) :]
    if tuple(last) != nbtext.END_SECTIONS:
        return [f"the chapter ends with {last}, not {list(nbtext.END_SECTIONS)}"]
    return []


RUNTIME_LINE = re.compile(
    r"\*\*Runtime:\*\*\s*about\s+[\d.]+\s+(?:seconds?|minutes?|hours?)\b.*"
    r"\*\*Study\s+time:\*\*\s*about\s+[\d.½]+\s+(?:minutes?|hours?)\b",
    re.I,
)


def title_problems(nb: dict, chapter: str) -> list[str]:
    problems = []
    cell = nb["cells"][0]
    title = nbtext.source(cell)
    if cell["cell_type"] != "markdown" or not title.startswith(f"# Chapter {chapter}"):
        return [f"the first cell is not the title `# Chapter {chapter}: ...`"]
    words = nbtext.mask_code(title)
    checks = {
        "the Colab badge": "colab.research.google.com" in title,
        'where it sits in the series (another chapter named, "next chapter" or "series")': bool(
            re.search(
                rf"\bchapters? (?!{chapter}\b)0?\d\b|\b(?:next|previous|last|earlier) chapters?\b"
                r"|\bseries\b",
                words.split("\n", 1)[-1],
                re.I,
            )
        ),
        '"You will learn to"': bool(re.search(r"you will learn to", words, re.I)),
        "prerequisites": bool(re.search(r"prerequisite", words, re.I)),
        "one line `**Runtime:** about N minutes ... · **Study time:** about N hours`": bool(
            RUNTIME_LINE.search(title)
        ),
    }
    problems += [f"the title cell does not state {what}" for what, ok in checks.items() if not ok]
    code = [nbtext.source(c) for c in nb["cells"] if c["cell_type"] == "code"][:4]
    if not any(f'diagrams.pipeline_strip("{chapter}")' in c for c in code):
        problems.append(f'no `diagrams.pipeline_strip("{chapter}")` in the first code cells')
    return problems


def readable(name: str) -> str:
    """A processor's name as a reader writes it: /proc/cpuinfo's 'Intel(R) Xeon(R) Processor' is
    'Intel Xeon' in the box (trademark marks and a trailing 'Processor' or 'CPU' dropped)."""
    name = re.sub(r"\((?:R|TM)\)", "", name, flags=re.I)
    return " ".join(re.sub(r"\s+(?:Processor|CPU)$", "", name.strip()).split())


def reproducibility_problems(nb: dict, chapter: str, root: Path = ROOT) -> list[str]:
    """The box states the committed run (the machine and date of results/notebooks_run.json, its
    wall time), the seed spread (a number of the chapter's record in results/spread.json) and how
    to re-run (`make notebooks`, `NLPBOOK_SEED`, `make spread`). The prose checker checks that
    every number in it is in those records; this checks that the ones that matter are there."""
    from test_prose_numbers import close, numbers

    box = nbtext.section_text(nb, nbtext.REPRODUCIBILITY)
    if not box:
        return ["no ## Reproducibility"]
    problems, box = [], " ".join(box.split())  # a name may wrap at the end of a line
    runs_path, spread_path = root / "results/notebooks_run.json", root / "results/spread.json"
    runs = json.loads(runs_path.read_text(encoding="utf-8")) if runs_path.exists() else {}
    run = runs.get(chapter)
    if run is None:
        problems.append("results/notebooks_run.json has no run of this chapter (make notebooks)")
    else:
        for key in ("cpu", "date"):
            if readable(str(run.get(key, ""))) not in box:
                problems.append(f"the box does not name the run's {key} {run.get(key)!r}")
        durations = [n for n in numbers(box) if n.kind == "dur"]
        if not any(close(run["seconds"], n) for n in durations):
            problems.append(f"the box does not state the run's wall time ({run['seconds']} s)")
    spread = json.loads(spread_path.read_text(encoding="utf-8")) if spread_path.exists() else {}
    metrics = spread.get("chapters", {}).get(chapter, {}).values()
    stats = [m[k] for m in metrics for k in ("mean", "std", "min", "max")]
    if not any(close(v, n) for v in stats for n in numbers(box) if n.kind in ("dec", "pct")):
        problems.append(
            "the box states no seed spread (mean, std, min or max of results/spread.json)"
        )
    problems += [
        f"the box does not say how to re-run: {what}"
        for what in ("make notebooks", "NLPBOOK_SEED", "make spread")
        if what not in box
    ]
    return problems


EQUATION_NUMBER = re.compile(r"\b(?:eqs?\.|equations?)\s*\(?\d+", re.I)


def equation_number_problems(nb: dict) -> list[str]:
    return [
        f"cell {p.cell}: {m.group()!r}: cite the equation by what it says"
        for p in nbtext.markdown_parts(nb)
        for m in EQUATION_NUMBER.finditer(nbtext.mask_code(p.text))
    ]


# ---------------------------------------------------------------- the chapters


def chapter_id(path: Path) -> str:
    return path.name[:2]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_references_name_every_source(path: Path):
    problems = reference_problems(load(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_run_provenance_in_the_lesson(path: Path):
    problems = provenance_problems(load(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_end_sections_in_order(path: Path):
    problems = end_section_problems(load(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_cell_states_place_goals_runtime_and_study_time(path: Path):
    problems = title_problems(load(path), chapter_id(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_reproducibility_box_states_run_spread_and_rerun(path: Path):
    problems = reproducibility_problems(load(path), chapter_id(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_equations_cited_by_content(path: Path):
    problems = equation_number_problems(load(path))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


# ---------------------------------------------------------------- each rule can fail

BADGE = (
    "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
    "(https://colab.research.google.com/github/o/r/blob/main/notebooks/03_x.ipynb)"
)
TITLE = (
    f"# Chapter 03: BiLSTM sentiment\n\n{BADGE}\n\nChapter 02 built an LSTM by hand; this one"
    " trains a BiLSTM, and chapter 04 adds attention.\n\n**You will learn to**\n\n- pack a batch\n\n"
    "**Prerequisites:** chapter 02.\n\n"
    "**Runtime:** about 5 minutes on a 2-core CPU · **Study time:** about 2 hours"
)
LESSON = (
    "## 1. Data\n\nThis chapter ports Trevett's notebook; the ported notebook used torchtext."
    " It reaches about 0.87 (see Reproducibility)."
)
ENDS = [
    "## Summary\n\n- packing.\n\n## Exercises\n\n1. a\n2. b\n3. c",
    "## Notes on the original\n\nTrevett's notebook used the test split for early stopping.",
    "## References\n\n- Ben Trevett (2019). *PyTorch Sentiment Analysis*, notebook 2."
    " https://github.com/bentrevett/pytorch-sentiment-analysis\n"
    "- Maas, A. L. et al. (2011). Learning word vectors for sentiment analysis. ACL 2011.",
    "## Reproducibility\n\nThe outputs come from one run of 285 s on a 2-core AMD EPYC, seed 0;"
    " over seeds 0-4 the BiLSTM reached 0.871 ± 0.011. Re-run with `make notebooks`.",
]
STRIP = 'from nlpbook import diagrams\n\ndiagrams.pipeline_strip("03")'


def good(title: str = TITLE, lesson: str = LESSON, ends: list[str] = ENDS, strip: str = STRIP):
    cells = [{"cell_type": "markdown", "source": [title]}]
    cells += [{"cell_type": "code", "source": [s], "outputs": []} for s in ("# Colab", strip)]
    cells += [{"cell_type": "markdown", "source": [t]} for t in (lesson, *ends)]
    return {"cells": cells}


def test_self_a_good_chapter_passes_every_rule():
    nb = good()
    assert reference_problems(nb) == []
    assert provenance_problems(nb) == []
    assert end_section_problems(nb) == []
    assert title_problems(nb, "03") == []
    assert equation_number_problems(nb) == []


def test_self_the_original_without_references_fails():
    nb = good(ends=[e for e in ENDS if not e.startswith("## References")])
    assert reference_problems(nb) == [
        "no ## References section (cell 3 says 'the ported notebook')"
    ]


def test_self_references_need_years_and_a_url_and_the_original_named():
    entries = (
        "## References\n\n- Trevett, B. PyTorch Sentiment Analysis.\n- Maas et al. (2011). ACL."
    )
    nb = good(ends=[ENDS[0], ENDS[1], entries, ENDS[3]])
    assert reference_problems(nb) == [
        "a reference without a year: 'Trevett, B. PyTorch Sentiment Analysis.'",
        "no reference has a URL",
    ]
    unnamed = good(lesson=LESSON.replace("Trevett's notebook", "a notebook"))
    assert reference_problems(unnamed) == [
        "cell 3 says 'the ported notebook' but names no reference (an author or a URL of"
        " ## References) there or before it"
    ]
    unrecorded = "- The ported notebook: an ESIM notebook. Its author and URL were not recorded."
    vague = "- The ported notebook: an ESIM notebook, author unknown."
    for entry, passes in ((unrecorded, True), (vague, False)):
        refs = entries.replace("- Trevett, B. PyTorch Sentiment Analysis.", entry) + " https://x.org"
        problems = reference_problems(good(ends=[ENDS[0], ENDS[1], refs, ENDS[3]]))
        assert (problems == []) == passes, problems
        assert passes or f"a reference without a year: {vague[2:]!r}" in problems
    notes = good(ends=[ENDS[0], "## Notes on the original\n\nIt leaks the test set.", *ENDS[2:]])
    assert reference_problems(notes) == ["## Notes on the original names none of the references"]
    # "the original order" is no source, and needs no reference
    assert not ORIGINAL_WORK.search("packing keeps the original order of the batch")


def test_self_provenance_outside_the_box_fails():
    lesson = (
        "## 1. Data\n\nIn the committed\nrun the BiLSTM wins; in seed 2 it loses, and seeds 3 and 4"
        " tie. It wins in every seed\nmeasured. `NLPBOOK_SEED=3` is code."
    )
    assert provenance_problems(good(lesson=lesson)) == [
        "cell 3: 'committed run' outside the Reproducibility box",
        "cell 3: 'seed 2' outside the Reproducibility box",
        "cell 3: 'seeds 3' outside the Reproducibility box",
        "cell 3: 'every seed measured' outside the Reproducibility box",
    ]
    title = TITLE.replace(
        "on a 2-core CPU", "(measured: 285 s by `make notebooks` on a 2-core AMD EPYC, seed 0)"
    )
    assert provenance_problems(good(title=title)) == [
        "the title cell: 'seed 0' outside the Reproducibility box",
        "the title cell holds run provenance: 'measured'",
        "the title cell holds run provenance: 'make notebooks'",
        "the title cell holds run provenance: 'AMD'",
        "the title cell holds run provenance: 'EPYC'",
    ]


def test_self_end_sections_out_of_order_or_missing_fail():
    swapped = good(ends=[ENDS[0], ENDS[2], ENDS[1], ENDS[3]])
    assert end_section_problems(swapped) == [
        "the chapter ends with ['Summary', 'Exercises', 'References', 'Notes on the original',"
        " 'Reproducibility'], not ['Summary', 'Exercises', 'Notes on the original', 'References',"
        " 'Reproducibility']"
    ]
    after = good(ends=[*ENDS, "## 11. A late section\n\ntext"])
    assert end_section_problems(after)[0].startswith("the chapter ends with")
    assert end_section_problems(good(ends=ENDS[:1] + ENDS[2:])) == ["no ## Notes on the original"]


def test_self_title_without_runtime_study_time_goals_or_strip_fails():
    title = TITLE.replace(" · **Study time:** about 2 hours", "").replace("**You will", "**We")
    assert title_problems(good(title=title, strip="print(1)"), "03") == [
        'the title cell does not state "You will learn to"',
        "the title cell does not state one line `**Runtime:** about N minutes ... · **Study time:**"
        " about N hours`",
        'no `diagrams.pipeline_strip("03")` in the first code cells',
    ]
    alone = TITLE.replace("Chapter 02 built an LSTM by hand; this one", "This chapter")
    alone = alone.replace(", and chapter 04 adds attention", "").replace("chapter 02.", "Python.")
    assert title_problems(good(title=alone), "03") == [
        'the title cell does not state where it sits in the series (another chapter named, "next'
        ' chapter" or "series")'
    ]


def test_self_equation_numbers_fail():
    lesson = (
        "## 2.2 Soft alignment (eqs. 11–13)\n\nEquation 12 weights the premise; `eq. 3` is code."
    )
    assert equation_number_problems(good(lesson=lesson)) == [
        "cell 3: 'eqs. 11': cite the equation by what it says",
        "cell 3: 'Equation 12': cite the equation by what it says",
    ]


def test_self_the_box_names_the_processor_as_a_reader_would():
    assert readable("Intel(R) Xeon(R) Processor") == "Intel Xeon"
    assert readable("Intel(R) Core(TM) i7-8650U CPU") == "Intel Core i7-8650U"
    assert readable("AMD EPYC") == "AMD EPYC"


def test_self_the_box_must_state_the_run_the_spread_and_how_to_rerun(tmp_path: Path):
    (tmp_path / "results").mkdir()
    runs = {"03": {"seconds": 285.0, "cpu": "AMD EPYC", "date": "2026-11-30"}}
    (tmp_path / "results/notebooks_run.json").write_text(json.dumps(runs))
    stats = {"mean": 0.87125, "std": 0.0112, "min": 0.8525, "max": 0.8815, "values": {}}
    (tmp_path / "results/spread.json").write_text(json.dumps({"chapters": {"03": {"acc": stats}}}))
    box = (
        "## Reproducibility\n\nOne run of `make notebooks` on a 2-core AMD EPYC, 2026-11-30: 285 s."
        " Over seeds 0-4 (`make spread`): 0.871 ± 0.011. Another seed: `NLPBOOK_SEED=3`."
    )
    assert reproducibility_problems(good(ends=[*ENDS[:3], box]), "03", tmp_path) == []
    bare = "## Reproducibility\n\nOne run on a 2-core Intel Xeon, 2026-12-06: 3.9 minutes; 0.93."
    assert reproducibility_problems(good(ends=[*ENDS[:3], bare]), "03", tmp_path) == [
        "the box does not name the run's cpu 'AMD EPYC'",
        "the box does not name the run's date '2026-11-30'",
        "the box does not state the run's wall time (285.0 s)",
        "the box states no seed spread (mean, std, min or max of results/spread.json)",
        "the box does not say how to re-run: make notebooks",
        "the box does not say how to re-run: NLPBOOK_SEED",
        "the box does not say how to re-run: make spread",
    ]
