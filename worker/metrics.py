"""Prometheus metrics: per-process instruments, and cluster-wide figures read from Redis.

Two kinds, because pinrelay runs as many processes on many hosts:

* instruments in the process that sees the event (provider call latency in the
  worker, receipt lag in the correlator, requests in the receiver); prefork
  workers aggregate their children through prometheus-client's multiprocess mode;
* :class:`RedisStatsCollector`, which reads the counters the Lua scripts keep in
  Redis (final states, receipts by status and err-code, unmatched receipts) and the
  queues' depth and age, so any one process (the correlator) can export the
  whole cluster's view without double counting.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from worker import constants as c
from worker.config import Settings

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

SEND_ATTEMPTS = Counter(
    "pinrelay_send_attempts_total",
    "Provider calls by outcome (accepted/transient/permanent/unconfirmed) and status code",
    ["outcome", "code"],
)
SUBMIT_LATENCY = Histogram(
    "pinrelay_submit_latency_seconds", "Latency of one provider 2FA call", buckets=_LATENCY_BUCKETS
)
RATE_LIMIT_WAIT = Histogram(
    "pinrelay_rate_limit_wait_seconds", "Time a send waited for the global rate limit",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2),
)  # fmt: skip
RECEIPTS = Counter(
    "pinrelay_correlated_receipts_total",
    "Receipts handled by this correlator, by verdict (applied/duplicate/stale/parked/...)",
    ["verdict"],
)
RECEIPT_LAG = Histogram(
    "pinrelay_receipt_lag_seconds", "From provider acceptance to the receipt's arrival",
    buckets=_LATENCY_BUCKETS,
)  # fmt: skip


class WorkerObserver:
    """Feeds :mod:`worker.send.delivery` events into the metrics above."""

    def attempt(self, outcome: str, code: str, latency_s: float) -> None:
        SEND_ATTEMPTS.labels(outcome=outcome, code=code).inc()
        SUBMIT_LATENCY.observe(latency_s)

    def rate_wait(self, seconds: float) -> None:
        RATE_LIMIT_WAIT.observe(seconds)


class RedisStatsCollector(Collector):
    """Cluster-wide figures kept in Redis, read at scrape time."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def collect(self) -> Iterator[Any]:
        prefix = self._settings.key_prefix
        stats: Any = self._client.hgetall(f"{prefix}{c.KEY_STATS}")
        states = CounterMetricFamily("pinrelay_sends", "Sends that reached a settled state",
                                     labels=["state"])  # fmt: skip
        receipts = CounterMetricFamily("pinrelay_receipts", "Receipts applied, by status and err-code",
                                       labels=["status", "err_code"])  # fmt: skip
        refusals = CounterMetricFamily("pinrelay_refused_sends", "Sends refused at enqueue",
                                       labels=["reason"])  # fmt: skip
        for raw_key, raw_value in stats.items():
            key, value = raw_key.decode(), float(raw_value)
            if key.startswith("state:"):
                states.add_metric([key[6:]], value)
            elif key.startswith("receipt:"):
                _, status, err = key.split(":", 2)
                receipts.add_metric([status, err], value)
            elif key.startswith("refused_"):
                refusals.add_metric([key[8:]], value)
        yield states
        yield receipts
        yield refusals
        yield GaugeMetricFamily("pinrelay_unmatched_receipts", "Receipts that never matched a send",
                                value=float(self._client.hlen(f"{prefix}{c.KEY_UNMATCHED}")))  # fmt: skip
        yield GaugeMetricFamily("pinrelay_parked_receipts", "Receipts waiting for their send",
                                value=float(self._client.zcard(f"{prefix}{c.KEY_PARKED}")))  # fmt: skip
        depth, age = self._queue_depth_and_age()
        yield GaugeMetricFamily("pinrelay_queue_depth", "Send tasks waiting in the broker", value=depth)
        yield GaugeMetricFamily("pinrelay_oldest_queued_age_seconds",
                                "Age of the oldest waiting send task", value=age)  # fmt: skip
        pending = 0.0
        try:
            groups: Any = self._client.xinfo_groups(f"{prefix}{c.KEY_RECEIPTS_STREAM}")
            pending = float(sum(int(g.get("pending", 0)) + int(g.get("lag") or 0) for g in groups))
        except redis.ResponseError:
            pass
        yield GaugeMetricFamily("pinrelay_result_queue_pending",
                                "Receipts queued or read but not yet correlated", value=pending)  # fmt: skip

    def _queue_depth_and_age(self) -> tuple[float, float]:
        """Depth of the Celery queue; age from the oldest task's record (task id = request id)."""
        if not self._settings.effective_broker_url.startswith(("redis", "rediss", "unix", "sentinel")):
            return 0.0, 0.0
        queue = self._settings.queue
        depth = float(self._client.llen(queue))
        oldest: Any = self._client.lindex(queue, -1)
        if not oldest:
            return depth, 0.0
        import json

        try:
            task_id = json.loads(oldest)["headers"]["id"]
            created: Any = self._client.hget(f"{self._settings.key_prefix}{c.KEY_RECORD}{task_id}",
                                             "created_at")  # fmt: skip
            return depth, max(0.0, time.time() - float(created)) if created else 0.0
        except (ValueError, KeyError, TypeError):
            return depth, 0.0


def serve_metrics(port: int, registry: CollectorRegistry | None = None) -> None:
    """Expose metrics on ``port`` (multiprocess-aware when PROMETHEUS_MULTIPROC_DIR is set)."""
    if registry is None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, registry=registry) if registry else start_http_server(port)
