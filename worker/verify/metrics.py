"""Prometheus figures of the verify flow, read from Redis at scrape time.

The verify scripts count in the shared stats hash (``verify:started``, ``verify:approved``,
``verify:expired``, ``verify:locked``, and the start-to-approval histogram
``verify:approval_le:<bound>`` / ``verify:approval_sum``), so, as with
:class:`worker.metrics.RedisStatsCollector`, any one process exports the whole cluster's
view without double counting. Registered next to that collector by ``pinrelay correlate``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from worker import constants as c
from worker.config import Settings
from worker.text import to_text
from worker.verify.store import APPROVAL_BUCKETS_S

__all__ = ["VerifyStatsCollector", "OUTCOMES", "verify_counts"]

OUTCOMES = ("started", "approved", "expired", "locked")


def verify_counts(client: redis.Redis, prefix: str) -> dict[str, float]:
    """The ``verify:*`` counters of the stats hash, without their ``verify:`` prefix."""
    stats: Any = client.hgetall(f"{prefix}{c.KEY_STATS}")
    return {to_text(k)[7:]: float(v) for k, v in stats.items() if to_text(k).startswith("verify:")}


class VerifyStatsCollector(Collector):
    """``pinrelay_verifications_total{outcome}``, the pending gauge, the approval histogram."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._client = client
        self._prefix = settings.key_prefix

    def collect(self) -> Iterator[Any]:
        counts = verify_counts(self._client, self._prefix)
        family = CounterMetricFamily("pinrelay_verifications", "Verifications started, and ended by "
                                     "outcome (approved/expired/locked)", labels=["outcome"])
        for outcome in OUTCOMES:
            family.add_metric([outcome], counts.get(outcome, 0.0))
        yield family
        pending = float(self._client.zcard(f"{self._prefix}{c.KEY_VERIFY_DUE}"))
        yield GaugeMetricFamily("pinrelay_verifications_pending", "Verifications waiting for their code",
                                value=pending)
        buckets, running = [], 0.0
        for bound in (*APPROVAL_BUCKETS_S, "+Inf"):
            running += counts.get(f"approval_le:{bound}", 0.0)
            buckets.append((str(float(bound)) if bound != "+Inf" else "+Inf", running))
        yield HistogramMetricFamily("pinrelay_verification_approval_seconds",
                                    "From the start of a verification to its approval",
                                    buckets=buckets, sum_value=counts.get("approval_sum", 0.0))
