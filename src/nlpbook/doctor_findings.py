"""One line of `python -m nlpbook doctor`'s report, for when a chapter will not run.

Every check (`nlpbook.doctor_packages`, `doctor_torch`, `doctor_data`) returns these.
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("ok", "info", "warn", "FAIL")


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: a level (`LEVELS`) and what was found. Every chapter."""

    level: str
    text: str
