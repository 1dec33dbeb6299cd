"""Execute chapter notebooks headless and print a results table.

    python scripts/run_chapters.py --out build notebooks/*.ipynb    # executed copies in build/
    python scripts/run_chapters.py --inplace notebooks/*.ipynb      # refresh committed outputs
    python scripts/run_chapters.py --inplace --record results/notebooks_run.json notebooks/*.ipynb

`--record` writes each chapter's wall time with the machine, thread count, seed and date: the
runtimes that the chapters' headers and the README quote (`make notebooks` writes it).

Each notebook records its headline numbers with `nlpbook.utils.check_band`, which
writes them to $NLPBOOK_RESULTS; this script reads them back for the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from nlpbook.data.disk import save_atomically
from nlpbook.doctor import cpu_name


class IPCKernelManager(AsyncKernelManager):
    """A kernel that talks to us over IPC (Unix sockets in Jupyter's runtime directory, removed
    at shutdown) rather than TCP ports on 127.0.0.1: nothing else on the machine can connect,
    and ipykernel has no reason to warn that the traffic is unencrypted."""

    def __init__(self, **kwargs) -> None:
        super().__init__(transport="ipc", **kwargs)
        name = f"nlpbook-kernel-{uuid.uuid4().hex[:12]}-ipc"  # the sockets are <name>-<port>
        self.ip = os.path.join(jupyter_runtime_dir(), name)
        os.makedirs(jupyter_runtime_dir(), exist_ok=True)


def notebook_client(notebook, **kwargs) -> NotebookClient:
    """An nbclient that starts its python3 kernel over IPC where the system has Unix sockets."""
    if os.name != "nt":
        kwargs["kernel_manager_class"] = IPCKernelManager
    return NotebookClient(notebook, kernel_name="python3", **kwargs)


def execute(path: Path, out: Path, results_dir: Path, timeout: int) -> tuple[bool, float, str]:
    notebook = nbformat.read(path, as_version=4)
    os.environ["NLPBOOK_RESULTS"] = str(results_dir.resolve())  # the kernel runs in notebooks/
    client = notebook_client(
        notebook,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as e:
        error = str(e).strip().splitlines()[-1] if str(e).strip() else "cell failed"
    seconds = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(out, lambda part: nbformat.write(notebook, part))
    return not error, seconds, error


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="+", type=Path)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="directory for the executed copies")
    where.add_argument("--inplace", action="store_true", help="overwrite the notebooks themselves")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--record", type=Path, help="write each chapter's wall time here (JSON)")
    args = parser.parse_args()

    results_dir = Path(
        args.out / "results" if args.out else tempfile.mkdtemp(prefix="nlpbook-results-")
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    for stale in results_dir.glob("*.json"):
        stale.unlink()
    rows, failed, walls = [], False, {}
    for path in args.notebooks:
        out = path if args.inplace else args.out / path.name
        print(f"running {path} ...", flush=True)
        ok, seconds, error = execute(path, out, results_dir, args.timeout)
        failed |= not ok
        chapter = path.name[:2]
        walls[chapter] = round(seconds, 1)
        records = results_dir / f"{chapter}.json"
        metrics = json.loads(records.read_text()) if records.exists() else {}
        if not metrics:
            rows.append(
                (path.stem, "-", "-", "-", "FAILED: " + error if error else "no result", seconds)
            )
        for name, r in metrics.items():
            verdict = "ok" if r["ok"] else "OUT OF BAND"
            if error:
                verdict = "FAILED: " + error
            rows.append(
                (
                    path.stem,
                    name,
                    f"{r['value']:.3f}",
                    f"[{r['low']}, {r['high']}]",
                    verdict,
                    seconds,
                )
            )
            failed |= not r["ok"]
    profile = os.environ.get("NLPBOOK_PROFILE", "quick")
    header = ("chapter", "metric", "value", "band", "verdict", "wall")
    table = [header] + [(*r[:5], f"{r[5]:.0f} s") for r in rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    print(f"\nresults ({profile} profile):")
    for i, r in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if args.record and not failed:
        record(args.record, walls)
    return 1 if failed else 0


def record(path: Path, walls: dict[str, float]) -> None:
    """Each chapter's wall time, merged into `path` with the run's machine, threads, seed, date."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for chapter, seconds in walls.items():
        data[chapter] = {
            "seconds": seconds,
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "threads": os.environ.get("OMP_NUM_THREADS", "default"),
            "seed": os.environ.get("NLPBOOK_SEED", "0"),
            "date": datetime.date.today().isoformat(),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(path, json.dumps(dict(sorted(data.items())), indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
