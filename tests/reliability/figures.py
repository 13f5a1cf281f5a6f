"""The ledger of measured figures: what each fault test saw, printed at the end of the run.

Set ``PINRELAY_RELIABILITY_JSON=path`` to also write the figures as JSON (how the
table in RELIABILITY.md was produced). Under pytest-xdist each worker process keeps its
own ledger and hands it to the controller, which prints them all (``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One row of RELIABILITY.md's table."""

    test: str
    fault: str
    injection: str
    sent: int
    lost: int
    duplicated: int
    measured: str


_FIGURES: list[Figure] = []


class Figures:
    """What a test measured; collected for the end-of-run summary."""

    def __init__(self, test: str) -> None:
        self._test = test

    def add(self, fault: str, injection: str, *, sent: int, lost: int, duplicated: int,
            measured: str) -> None:
        _FIGURES.append(Figure(self._test, fault, injection, sent, lost, duplicated, measured))


def export() -> list[dict[str, Any]]:
    """This process's figures, as plain data (what an xdist worker sends its controller)."""
    return [asdict(f) for f in _FIGURES]


def absorb(rows: list[dict[str, Any]]) -> None:
    """Add figures another process measured (an xdist worker's :func:`export`)."""
    _FIGURES.extend(Figure(**row) for row in rows)


def report(terminalreporter: Any) -> None:
    """The figures of this run as a section of pytest's summary (and as JSON when asked)."""
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for f in _FIGURES:
        terminalreporter.write_line(
            f"{f.fault} | {f.injection} | sent {f.sent} | lost {f.lost} | "
            f"duplicated {f.duplicated} | {f.measured}"
        )
    out = os.environ.get("PINRELAY_RELIABILITY_JSON")
    if out:
        Path(out).write_text(json.dumps([asdict(f) for f in _FIGURES], indent=2))
