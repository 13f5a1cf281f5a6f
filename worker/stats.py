"""The one percentile pinrelay prints: the demo, ``pinrelay report`` and the bench agree.

Nearest rank, not linear interpolation: the p99 shown is a latency some request
actually had, never a value between two samples that no request saw; it is the
textbook reading of "99% of the sends took at most this long", so it can be checked
against an SLO as is; and it is what the bench has always reported, so the numbers in
BENCHMARKS.md stay comparable. (Interpolation only differs on small samples, where
it would invent precision the data does not have.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(values: Iterable[float], pct: float) -> float | None:
    """The nearest-rank ``pct`` percentile of ``values``; None when there are none.

    The smallest value with at least ``pct`` percent of the values at or below it:
    the value of rank ``ceil(n * pct / 100)`` (at least 1) in sorted order, so
    ``pct=0`` is the minimum and ``pct=100`` the maximum.
    """
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct!r} is not between 0 and 100")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(len(ordered) * pct / 100))
    return ordered[min(rank, len(ordered)) - 1]
