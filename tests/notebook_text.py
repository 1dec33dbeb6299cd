"""A chapter's markdown by section, for the checkers of the prose (tests/test_prose_numbers.py,
tests/test_chapter_prose.py): which `## ` section each piece of text sits in, the chapter's
References entries, and the names a reference can be cited by."""

from __future__ import annotations

import re
from typing import NamedTuple

# The sections every chapter ends with, in this order (ARCHITECTURE.md, "How a notebook is validated").
SUMMARY, EXERCISES, NOTES, REFERENCES, REPRODUCIBILITY = (
    "Summary",
    "Exercises",
    "Notes on the original",
    "References",
    "Reproducibility",
)
END_SECTIONS = (SUMMARY, EXERCISES, NOTES, REFERENCES, REPRODUCIBILITY)
HEADING = re.compile(r"^## +(.+?)\s*$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)  # a "## " line inside fenced code is no heading
YEAR = re.compile(r"(?<![\d.])(?:1[89]|20)\d\d[a-z]?(?!\d|\.\d)")
URL = re.compile(r"https?://[^\s)>\]]+")


class Part(NamedTuple):
    cell: int  # index in nb["cells"]
    section: str  # the `## ` heading it sits under, "" before the first; end sections by name
    text: str  # the markdown, its heading line included


def section_name(heading: str) -> str:
    """An end section's canonical name ("## Notes on the original (ESIM notebook)" -> NOTES); any
    other heading as written."""
    for name in END_SECTIONS:
        if heading.strip().lower().startswith(name.lower()):
            return name
    return heading.strip()


def source(cell: dict) -> str:
    return "".join(cell["source"])


def markdown_parts(nb: dict) -> list[Part]:
    """Each markdown cell, cut where a `## ` heading starts a section (a cell may hold two)."""
    parts, section = [], ""
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = source(cell)
        # Headings are found outside fenced code only: blank it out, keeping every offset.
        unfenced = FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
        cut = 0
        for m in HEADING.finditer(unfenced):
            if m.start() > cut:
                parts.append(Part(index, section, text[cut : m.start()]))
            section, cut = section_name(m.group(1)), m.start()
        parts.append(Part(index, section, text[cut:]))
    return [p for p in parts if p.text.strip()]


def headings(nb: dict) -> list[str]:
    """The chapter's `## ` sections in order, end sections by their canonical name."""
    seen = []
    for part in markdown_parts(nb):
        if part.section and (not seen or seen[-1] != part.section):
            seen.append(part.section)
    return seen


def section_text(nb: dict, name: str) -> str:
    return "\n".join(p.text for p in markdown_parts(nb) if p.section == name)


def reference_entries(nb: dict) -> list[str]:
    """The bulleted entries of `## References` (an entry may run on over several lines)."""
    text = section_text(nb, REFERENCES)
    entries: list[str] = []
    for line in text.splitlines():
        if re.match(r"\s*[-*+] ", line):
            entries.append(line.strip()[2:].strip())
        elif line.strip() and entries and line.startswith((" ", "\t")):
            entries[-1] += " " + line.strip()
    return entries


def plain(markdown: str) -> str:
    """Markdown without links' targets, emphasis and code marks: the words a reader sees."""
    text = re.sub(r"\]\([^)]*\)", "]", markdown)
    return re.sub(r"[*_`\[\]]", "", text)


def cited_names(entries: list[str]) -> tuple[set[str], set[str]]:
    """(names, URLs) by which a chapter's prose can cite a reference: the capitalised words of its
    authors (the entry before its year, e.g. "Chen", "Trevett", "PyTorch") and its URLs."""
    names, urls = set(), set()
    for entry in entries:
        urls.update(u.rstrip(".,;") for u in URL.findall(entry))
        text = plain(URL.sub("", entry))
        # The authors end at "(2017)" or at the first full stop after a word (not an initial:
        # "Andrew L. Maas, ... and Christopher Potts. Learning Word Vectors ...").
        ends = [m.start() for m in (AUTHORS_END.search(text), YEAR.search(text)) if m]
        authors = text[: min(ends)] if ends else text
        names.update(w for w in re.findall(r"\b[A-Z][\w'’-]{3,}", authors) if w not in STOP)
    return names, urls


AUTHORS_END = re.compile(r"(?<=\w[a-zß-ÿ])[.:]\s|\(\s*(?:1[89]|20)\d\d")
# Capitalised words of an authors' part that do not name anyone.
STOP = {"With", "From", "Notes", "Notebook", "Tutorial", "Proceedings", "Available", "Online"}


def names_a_reference(text: str, names: set[str], urls: set[str]) -> bool:
    """The text cites one of the chapter's references: by an author's name or by its URL."""
    if any(u in text for u in urls):
        return True
    return any(re.search(rf"\b{re.escape(n)}\b", text) for n in names)


# Code, link targets and URLs are not prose: blanked out with offsets kept.
CODE = [r"```.*?```", r"`[^`\n]*`", r"\$\$.*?\$\$", r"\$[^$\n]+\$", r"\]\([^)\n]*\)", URL.pattern]
CODE_RE = [re.compile(p, re.S) for p in CODE]


def mask_code(markdown: str) -> str:
    for pattern in CODE_RE:
        markdown = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), markdown)
    return markdown
