"""Measure how far each chapter's headline numbers move with the seed.

    python scripts/seed_spread.py notebooks/*.ipynb                # seeds 0-4, two at once
    python scripts/seed_spread.py --seeds 0 1 --jobs 1 notebooks/02_lstm_from_scratch.ipynb
    python scripts/seed_spread.py --collect                        # rewrite the file from build/spread
    python scripts/seed_spread.py --merge notebooks/04_esim_snli.ipynb   # re-measure one chapter, keep the rest

Each (chapter, seed) runs as its own `scripts/run_chapters.py` process with NLPBOOK_SEED set and
one torch thread (OMP_NUM_THREADS=1), so on a 2-core machine two of them run side by side
without changing each other's floating-point path. The executed copies and the band records
(every `check_band` with a chapter) land in build/spread/seed<N>/<chapter>/; the summary, with
the machine, thread count, torch version and date, goes to results/spread.json, which
tests/test_spread.py reads to check every notebook band against the measured range. Two runs of
one chapter never overlap: they would share its checkpoint file in the data root.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from nlpbook.data.disk import save_atomically

ROOT = Path(__file__).resolve().parent.parent
SPREAD_FILE = ROOT / "results" / "spread.json"
BUILD = ROOT / "build" / "spread"


def run_jobs(jobs: list[tuple[Path, int]], parallel: int, threads: int) -> list[str]:
    """Run every (notebook, seed) job, at most `parallel` at once, never one chapter twice at once."""
    pending, running, failures = list(jobs), [], []
    while pending or running:
        for job in list(running):
            proc, (notebook, seed), start, log = job
            if proc.poll() is not None:
                running.remove(job)
                log.close()
                took = time.perf_counter() - start
                status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
                print(f"  done {notebook.name} seed {seed}: {status}, {took:.0f} s", flush=True)
                if proc.returncode != 0:
                    failures.append(f"{notebook.name} seed {seed}")
        busy = {notebook.name for _, (notebook, _), _, _ in running}
        for notebook, seed in list(pending):
            if len(running) >= parallel:
                break
            if notebook.name in busy:
                continue
            pending.remove((notebook, seed))
            busy.add(notebook.name)
            out = BUILD / f"seed{seed}" / notebook.name[:2]
            env = dict(os.environ, NLPBOOK_SEED=str(seed), OMP_NUM_THREADS=str(threads))
            env.setdefault("NLPBOOK_PROFILE", "quick")
            out.mkdir(parents=True, exist_ok=True)
            log = open(out / "run.log", "w")  # noqa: SIM115 (closed when the process ends)
            cmd = [sys.executable, str(ROOT / "scripts" / "run_chapters.py"), "--out", str(out), str(notebook)]
            print(f"  start {notebook.name} seed {seed}", flush=True)
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
            running.append((proc, (notebook, seed), time.perf_counter(), log))
        time.sleep(2)
    return failures


def summarise(values: dict[str, float]) -> dict:
    """mean, std (sample), min and max of one number over seeds."""
    numbers = list(values.values())
    return {
        "mean": statistics.fmean(numbers),
        "std": statistics.stdev(numbers) if len(numbers) > 1 else 0.0,
        "min": min(numbers),
        "max": max(numbers),
    }


def collect(seeds: list[int] | None = None) -> dict:
    """Read build/spread/seed<N>/<chapter>/results/<chapter>.json into the spread summary."""
    chapters: dict[str, dict] = {}
    found = set()
    for seed_dir in sorted(BUILD.glob("seed*")):
        seed = int(seed_dir.name[4:])
        if seeds is not None and seed not in seeds:
            continue
        for records in sorted(seed_dir.glob("*/results/*.json")):
            chapter = records.stem
            for name, r in json.loads(records.read_text(encoding="utf-8")).items():
                entry = chapters.setdefault(chapter, {}).setdefault(name, {"values": {}, "bands": {}})
                entry["values"][str(seed)] = r["value"]
                entry["bands"][str(seed)] = [r["low"], r["high"]]
                found.add(seed)
    for numbers in chapters.values():
        for entry in numbers.values():
            bands = {tuple(b) for b in entry.pop("bands").values()}
            entry["band_when_measured"] = list(bands.pop()) if len(bands) == 1 else None
            entry.update(summarise(entry["values"]))
    return {"seeds": sorted(found), "chapters": chapters}


def machine() -> dict:
    import torch

    from nlpbook.doctor import cpu_name

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=2, help="chapters run at once (one thread each)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per chapter")
    parser.add_argument("--collect", action="store_true", help="only rewrite the file from build/spread")
    parser.add_argument("--out", type=Path, default=SPREAD_FILE)
    parser.add_argument(
        "--merge", action="store_true",
        help="replace only the chapters measured now; keep the others (and their dates, CPUs) from --out",
    )
    args = parser.parse_args()
    if not args.collect and not args.notebooks:
        parser.error("name the notebooks to run, or pass --collect")

    failures: list[str] = []
    if not args.collect:
        # Longest chapters first keeps both workers busy to the end.
        order = {"04": 0, "05": 1, "02": 2, "03": 3, "01": 4}
        notebooks = sorted(args.notebooks, key=lambda p: order.get(p.name[:2], 9))
        # Run copies, so that editing a notebook while the runs go on changes none of them.
        snapshot = BUILD / "src"
        snapshot.mkdir(parents=True, exist_ok=True)
        for nb in notebooks:
            shutil.copyfile(nb, snapshot / nb.name)
        notebooks = [snapshot / nb.name for nb in notebooks]
        jobs = [(nb, seed) for seed in args.seeds for nb in notebooks]
        start = time.perf_counter()
        print(f"{len(jobs)} runs, {args.jobs} at once, {args.threads} thread(s) each", flush=True)
        failures = run_jobs(jobs, args.jobs, args.threads)
        print(f"all runs took {time.perf_counter() - start:.0f} s")
    spread = collect(None if args.collect else args.seeds)
    today = datetime.date.today().isoformat()
    dates = {chapter: today for chapter in spread["chapters"]}
    cpus = {chapter: machine()["cpu"] for chapter in spread["chapters"]}
    if args.merge and args.out.exists():
        old = json.loads(args.out.read_text(encoding="utf-8"))
        if old.get("seeds") != spread["seeds"] or old.get("threads") != args.threads:
            parser.error(f"--merge needs the seeds and threads of {args.out}: {old.get('seeds')}, {old.get('threads')}")
        kept = {c: v for c, v in old["chapters"].items() if c not in spread["chapters"]}
        dates = {**{c: old.get("dates", {}).get(c, old["date"]) for c in kept}, **dates}
        cpus = {**{c: old.get("cpus", {}).get(c, old["machine"]["cpu"]) for c in kept}, **cpus}
        spread["chapters"] = dict(sorted({**kept, **spread["chapters"]}.items()))
    spread = {
        "what": "every check_band with a chapter, per NLPBOOK_SEED, quick profile (scripts/seed_spread.py)",
        "date": today,
        "dates": dict(sorted(dates.items())),
        "cpus": dict(sorted(cpus.items())),  # which processor measured each chapter
        "threads": args.threads,
        "machine": machine(),
        **spread,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(args.out, json.dumps(spread, indent=1) + "\n")
    for chapter, numbers in sorted(spread["chapters"].items()):
        for name, e in numbers.items():
            print(f"{chapter} {name}: {e['mean']:.3f} ± {e['std']:.3f} ({e['min']:.3f}-{e['max']:.3f}) "
                  f"over seeds {', '.join(e['values'])}")
    if failures:
        print("FAILED runs:", ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
