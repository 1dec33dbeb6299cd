"""`python -m nlpbook COMMAND`: `doctor` (a report for when a chapter will not run).

Datasets have their own command, `python -m nlpbook.data`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

COMMANDS = ("doctor",)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command's `main`; returns the exit status. Every chapter."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        given = f"unknown command {args[0]!r}; " if args and args[0] not in ("-h", "--help") else ""
        print(f"{given}usage: python -m nlpbook doctor [--deep]", file=sys.stderr)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    from nlpbook import doctor

    return doctor.main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
