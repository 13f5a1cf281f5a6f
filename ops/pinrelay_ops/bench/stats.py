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


def share(part: float, rest: float) -> float | None:
    """``part`` as a fraction of ``part + rest`` (Redis CPU of Redis + workers, say); None if both 0."""
    total = part + rest
    return part / total if total > 0 else None


def per_core(cpu_per_1k: float | None) -> float | None:
    """Operations per second one fully busy core carries at ``cpu_per_1k`` CPU s per 1,000 ops.

    The ceiling Redis puts on a deployment: Redis runs its commands on one core, so
    1 / (Redis CPU seconds per send) is the most sends/s it can serve however many
    workers are added.
    """
    return 1000 / cpu_per_1k if cpu_per_1k else None


def half_rates(times: Sequence[float]) -> tuple[float, float]:
    """Events/s over the first and the second half of sorted event ``times`` (0 where undefined).

    Two close figures say the run was long enough for a steady rate; a large gap
    says warm-up or drift dominated it.
    """
    if len(times) < 3:
        return 0.0, 0.0
    mid = len(times) // 2
    return rate(mid, times[mid] - times[0]), rate(len(times) - 1 - mid, times[-1] - times[mid])
