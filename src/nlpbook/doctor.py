"""`python -m nlpbook doctor`: a short report for when a chapter will not run.

It checks, in order: Python and the installed packages against the lock
(requirements/lock.txt, in a source checkout) and whether torchtext is installed; the torch
build, its CPU capability, CUDA and MPS, threads, and the device the chapters would pick; the
data root (writable, free space) and the mirrors; which datasets and GloVe files are present,
and whether they are intact (by size, quickly, or with `--deep` by the registry's checksums);
and a tiny forward and backward pass through `nlpbook.rnn.BiLSTM`, compared with nn.LSTM on
the packed batch. Each line starts with ok, info, warn or FAIL; the exit status is 1 when any
line is FAIL, else 0. Every chapter's data error message points here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from nlpbook import data
from nlpbook.doctor_data import check_data_root, check_datasets, check_glove, check_mirrors
from nlpbook.doctor_findings import Finding
from nlpbook.doctor_packages import check_python_and_packages, check_torchtext, lock_path
from nlpbook.doctor_torch import check_bilstm, check_torch


def run(
    deep: bool = False,
    root: Path | None = None,
    mirrors: Sequence[Path] | None = None,
    lock: Path | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Print the report through `write`; 1 if any check FAILs, else 0. Every chapter."""
    root = Path(root) if root is not None else data.data_root()
    mirrors = list(mirrors) if mirrors is not None else data.mirror_dirs()
    sections: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("Python and packages", lambda: check_python_and_packages(lock)),
        ("torchtext", check_torchtext),
        ("torch and device", check_torch),
        ("data root", lambda: check_data_root(root)),
        ("mirrors", lambda: check_mirrors(mirrors)),
        ("datasets", lambda: check_datasets(root, mirrors, deep)),
        ("GloVe", lambda: check_glove(root, deep)),
        ("BiLSTM", check_bilstm),
    ]
    mode = "deep: re-hashing every data file" if deep else "quick; --deep re-hashes the data files"
    write(f"nlpbook doctor ({mode})")
    failures = 0
    for title, check in sections:
        write(f"{title}:")
        for finding in check():
            write(f"  {finding.level:<4}  {finding.text}")
            failures += finding.level == "FAIL"
    write(f"{failures} problem(s) found (lines marked FAIL)." if failures else "No problems found.")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nlpbook doctor [--deep]`; returns the exit status. Every chapter."""
    parser = argparse.ArgumentParser(
        prog="python -m nlpbook doctor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="verify every data file by its checksum (slow for GloVe: GBs)",
    )
    args = parser.parse_args(argv)
    return run(deep=args.deep, lock=lock_path())


if __name__ == "__main__":
    sys.exit(main())
