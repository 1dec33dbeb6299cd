"""Grading time for a class: 30 submissions of one chapter (15 solved, 15 untouched), graded in the
sandbox by scripts/exercises.py with --jobs 1 and with one worker per core (issue 30's goal: 30
notebooks in at most 2 minutes of wall time on 2 cores).

    python benchmarks/bench_grading.py            # chapter 01, two workers then one
    python benchmarks/bench_grading.py 04 2       # chapter 04, two workers only
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import exercises  # noqa: E402


def main() -> None:
    chapter = sys.argv[1] if len(sys.argv) > 1 else "01"
    jobs_list = [int(j) for j in sys.argv[2:]] or [os.cpu_count() or 1, 1]
    source = exercises.source_for(chapter)
    with tempfile.TemporaryDirectory(prefix="nlpbook-bench-grading-") as tmp:
        base = Path(tmp)
        folder = base / "class"
        folder.mkdir()
        assigned = exercises.otter_assign(source, base / "assigned", run_tests=False)
        solved = (assigned / "autograder" / source.name).read_text(encoding="utf-8")
        unsolved = (exercises.STUDENT_DIR / source.name).read_text(encoding="utf-8")
        for i in range(15):
            (folder / f"solved_{i:02d}.ipynb").write_text(solved, encoding="utf-8")
            (folder / f"unsolved_{i:02d}.ipynb").write_text(unsolved, encoding="utf-8")
        for jobs in jobs_list:
            load, start = os.getloadavg()[0], time.monotonic()
            results = exercises.grade_folder(folder, source, base / f"scores_{jobs}.csv", jobs=jobs, quiet=True)
            wall = time.monotonic() - start
            totals = sorted({r["row"]["total"] for r in results.values()})
            print(json.dumps({"chapter": chapter, "jobs": jobs, "notebooks": len(results), "wall_s": round(wall, 1),
                              "load_at_start": round(load, 1), "totals": totals}), flush=True)


if __name__ == "__main__":
    main()
