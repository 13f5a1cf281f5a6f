"""The arithmetic of a bench: rates, nearest-rank percentiles (:mod:`worker.stats`), ratios."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from worker.stats import percentile


def rate(count: float, seconds: float) -> float:
    """Operations per second; 0 when no time passed."""
    return count / seconds if seconds > 0 else 0.0


def ratio(ours: float | None, baseline: float | None) -> float | None:
    if ours is None or not baseline:
        return None
    return ours / baseline


def per_thousand(total: float, count: int) -> float | None:
    """``total`` spread over ``count`` operations, per 1,000 of them."""
    return total * 1000 / count if count > 0 else None


@dataclass(frozen=True, slots=True)
class Latency:
    """p50 and p99 in milliseconds over ``count`` samples."""

    p50_ms: float | None
    p99_ms: float | None
    count: int

    @classmethod
    def of_seconds(cls, samples: Sequence[float]) -> Latency:
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        return cls(
            None if p50 is None else p50 * 1000, None if p99 is None else p99 * 1000, len(samples)
        )


NO_LATENCY = Latency(None, None, 0)
