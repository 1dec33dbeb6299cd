"""The bands the notebooks print hold every seed measured (results/spread.json), with a margin.

`make spread` (scripts/seed_spread.py) runs every chapter with NLPBOOK_SEED=0..4 and records each
`check_band` that names a chapter. A band is wide enough when it contains the measured range
widened by two standard deviations on each side: [min - 2 std, max + 2 std]. The bands are read
from the committed outputs (the line `check_band` prints, e.g. `test accuracy in [0.76, 0.88]:
True`), which is what nbval compares and what a reader sees.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPREAD = ROOT / "results" / "spread.json"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SEEDS = ["0", "1", "2", "3", "4"]
BAND_LINE = re.compile(r"^(?P<name>.+) in \[(?P<low>[-+\d.e]+), (?P<high>[-+\d.e]+)\]: (?P<ok>True|False)$")


def spread() -> dict:
    return json.loads(SPREAD.read_text(encoding="utf-8"))


def printed_bands(path: Path) -> dict[str, tuple[float, float, bool]]:
    """name -> (low, high, verdict) from every band line in the notebook's committed outputs."""
    bands = {}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", ""))
            for line in text.splitlines():
                if m := BAND_LINE.match(line):
                    bands[m["name"]] = (float(m["low"]), float(m["high"]), m["ok"] == "True")
    return bands


def band_problem(low: float, high: float, measured: dict) -> str | None:
    """Why [low, high] is too narrow for the measured values, or None when it holds them."""
    margin = 2 * measured["std"]
    need_low, need_high = measured["min"] - margin, measured["max"] + margin
    if low > need_low + 1e-12:
        return f"its floor {low} is above min - 2 std = {need_low:.4f}"
    if high < need_high - 1e-12:
        return f"its ceiling {high} is below max + 2 std = {need_high:.4f}"
    return None


def test_spread_file_holds_seeds_0_to_4_for_every_chapter():
    data = spread()
    assert [str(s) for s in data["seeds"]] == SEEDS
    assert data["threads"] == 1 and data["machine"]["cpu"] and data["date"]
    assert sorted(data["chapters"]) == [p.name[:2] for p in NOTEBOOKS]
    # --merge keeps other chapters' measurements: each says when and on which processor
    assert sorted(data["dates"]) == sorted(data["cpus"]) == sorted(data["chapters"])
    for chapter, numbers in data["chapters"].items():
        for name, entry in numbers.items():
            assert sorted(entry["values"]) == SEEDS, f"{chapter} {name}: a seed is missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_recorded_band_is_in_the_spread_and_holds_it(path: Path):
    chapter = path.name[:2]
    measured = spread()["chapters"][chapter]
    bands = printed_bands(path)
    recorded = {name for name, _ in _check_band_calls(path)}
    assert recorded, "the chapter records no band"
    assert recorded <= set(bands), f"band lines missing from the outputs: {recorded - set(bands)}"
    assert recorded == set(measured), (
        f"the spread file does not match the chapter's recorded bands: run make spread "
        f"(in the notebook only: {recorded - set(measured)}; in the file only: {set(measured) - recorded})"
    )
    for name in recorded:
        low, high, ok = bands[name]
        assert ok, f"{name}: the committed run is out of its own band"
        problem = band_problem(low, high, measured[name])
        assert problem is None, f"chapter {chapter}, {name!r} band [{low}, {high}]: {problem}"


def _check_band_calls(path: Path) -> list[tuple[str, str]]:
    """(name, chapter) of every check_band call in the notebook's code that names a chapter."""
    calls = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        for m in re.finditer(r'check_band\("([^"]+)"[^\n]*chapter="(\d\d)"\)', src):
            calls.append((m[1], m[2]))
    return calls


def test_band_problem_flags_a_band_narrower_than_the_measured_range():
    measured = {"min": 0.80, "max": 0.84, "std": 0.01, "mean": 0.82}
    assert band_problem(0.77, 0.87, measured) is None
    assert "floor" in band_problem(0.79, 0.90, measured)  # 0.79 > 0.80 - 0.02
    assert "ceiling" in band_problem(0.70, 0.85, measured)  # 0.85 < 0.84 + 0.02
    assert band_problem(0.78, 0.86, measured) is None  # exactly the margin


def test_band_lines_are_parsed_from_outputs(tmp_path: Path):
    nb = {"cells": [{"cell_type": "code", "source": [], "outputs": [
        {"output_type": "stream", "name": "stdout", "text": ["test accuracy in [0.76, 0.88]: True\n", "other\n"]}]}]}
    path = tmp_path / "02_x.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert printed_bands(path) == {"test accuracy": (0.76, 0.88, True)}


SPREAD_TEXT = re.compile(r"(\d\.\d{3}) ± (\d\.\d{3}) \((\d\.\d{3})–(\d\.\d{3})\)")
# The number each chapter's row of the README table leads with.
HEADLINES = {"01": "accuracy", "02": "test accuracy", "03": "test accuracy", "04": "test accuracy",
             "05": "binary (word2vec codes) top-10 test accuracy"}


def spread_text(entry: dict) -> str:
    return f"{entry['mean']:.3f} ± {entry['std']:.3f} ({entry['min']:.3f}–{entry['max']:.3f})"


def test_readme_reports_the_measured_spread():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    chapters = spread()["chapters"]
    measured = {spread_text(e) for numbers in chapters.values() for e in numbers.values()}
    quoted = {m[0] for m in SPREAD_TEXT.finditer(readme)}
    assert quoted, "the README quotes no spread"
    assert quoted <= measured, f"README spreads not in results/spread.json: {quoted - measured}"
    for chapter, name in HEADLINES.items():
        assert spread_text(chapters[chapter][name]) in readme, f"chapter {chapter}'s {name} spread"
