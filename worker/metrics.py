"""Prometheus metrics: per-process instruments, and cluster-wide figures read from Redis.

Two kinds, because pinrelay runs as many processes on many hosts:

* instruments in the process that sees the event (provider call latency in the
  worker, receipt lag in the correlator, requests in the receiver); prefork
  workers aggregate their children through prometheus-client's multiprocess mode;
* :class:`RedisStatsCollector`, which reads the counters the Lua scripts keep in
  Redis (final states, receipts by status and err-code, unmatched receipts) and the
  queues' depth and age, so any one process (the correlator) can export the
  whole cluster's view without double counting.

Where values live is decided per process, not per import. prometheus-client picks
in-memory or file-backed values (``prometheus_client.values.ValueClass``) once, when
it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``; building the CLI parser
imports it long before ``pinrelay worker`` knows it wants a directory. So the
instruments here are :class:`Lazy`: each is built on first use, after
:func:`use_multiprocess_dir` (or the environment) chose, and
:func:`_value_class_follows_env` re-reads the choice just before. No import order
can send a prefork child's counts to memory nobody scrapes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, Generic, TypeVar

import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from worker import constants as c
from worker.config import Settings
from worker.states import RECEIPT_STATES

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_build_lock = threading.Lock()
M = TypeVar("M", Counter, Histogram)


def _value_class_follows_env() -> None:
    """Make values file-backed if ``PROMETHEUS_MULTIPROC_DIR`` is set now, whenever it was set."""
    from prometheus_client import values

    if os.environ.get(MULTIPROC_ENV) and values.ValueClass is values.MutexValue:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class Lazy(Generic[M]):
    """A metric built on its first use, so after the process decided where values live."""

    def __init__(self, build: Callable[[], M]) -> None:
        self._build: Callable[[], M] = build
        self._metric: M | None = None

    def get(self) -> M:
        if self._metric is None:
            with _build_lock:
                if self._metric is None:
                    _value_class_follows_env()
                    self._metric = self._build()
        return self._metric

    def labels(self, **labels: str) -> Any:
        return self.get().labels(**labels)

    def inc(self, amount: float = 1.0) -> None:
        metric: Any = self.get()
        metric.inc(amount)

    def observe(self, value: float) -> None:
        metric: Any = self.get()
        metric.observe(value)


SEND_ATTEMPTS = Lazy(lambda: Counter(
    "pinrelay_send_attempts_total",
    "Provider calls by outcome (accepted/transient/permanent/unconfirmed) and status code",
    ["outcome", "code"],
))
SUBMIT_LATENCY = Lazy(lambda: Histogram(
    "pinrelay_submit_latency_seconds", "Latency of one provider 2FA call", buckets=_LATENCY_BUCKETS
))
RATE_LIMIT_WAIT = Lazy(lambda: Histogram(
    "pinrelay_rate_limit_wait_seconds", "Time a send waited for the global rate limit",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2),
))
RECEIPTS = Lazy(lambda: Counter(
    "pinrelay_correlated_receipts_total",
    "Receipts handled by this correlator, by verdict (applied/duplicate/stale/parked/...)",
    ["verdict"],
))
RECEIPT_LAG = Lazy(lambda: Histogram(
    "pinrelay_receipt_lag_seconds", "From provider acceptance to the receipt's arrival",
    buckets=_LATENCY_BUCKETS,
))
# What each process exports from its start (histograms at 0 rather than absent).
WORKER_METRICS: Final = (SEND_ATTEMPTS, SUBMIT_LATENCY, RATE_LIMIT_WAIT)
CORRELATOR_METRICS: Final = (RECEIPTS, RECEIPT_LAG)


class WorkerObserver:
    """Feeds :mod:`worker.send.delivery` events into the metrics above."""

    def attempt(self, outcome: str, code: str, latency_s: float) -> None:
        SEND_ATTEMPTS.labels(outcome=outcome, code=code).inc()
        SUBMIT_LATENCY.observe(latency_s)

    def rate_wait(self, seconds: float) -> None:
        RATE_LIMIT_WAIT.observe(seconds)


_RECEIPT_STATUSES = frozenset(s.value for s in RECEIPT_STATES)


def receipt_labels(field: str) -> tuple[str, str]:
    """``(status, err_code)`` for a ``receipt:<status>:<err-code>`` stats field, each one of the
    documented values (docs/provider-api.md §4), ``""`` or ``other``: a receipt's text never
    becomes a label value of its own (older versions stored any err-code as a field)."""
    _, status, err = [*field.split(":", 2), "", ""][:3]
    if status not in _RECEIPT_STATUSES:
        status = c.OTHER_ERR_CODE
    if err and err not in c.DOCUMENTED_ERR_CODES:
        err = c.OTHER_ERR_CODE
    return status, err


class RedisStatsCollector(Collector):
    """Cluster-wide figures kept in Redis, read at scrape time."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def collect(self) -> Iterator[Any]:
        prefix = self._settings.key_prefix
        stats: Any = self._client.hgetall(f"{prefix}{c.KEY_STATS}")
        states = CounterMetricFamily("pinrelay_sends", "Sends that reached a settled state",
                                     labels=["state"])
        receipts = CounterMetricFamily("pinrelay_receipts", "Receipts applied, by status and err-code",
                                       labels=["status", "err_code"])
        refusals = CounterMetricFamily("pinrelay_refused_sends", "Sends refused at enqueue",
                                       labels=["reason"])
        by_label: dict[tuple[str, str], float] = {}
        for raw_key, raw_value in stats.items():
            key, value = raw_key.decode(), float(raw_value)
            if key.startswith("state:"):
                states.add_metric([key[6:]], value)
            elif key.startswith("receipt:"):
                labels = receipt_labels(key)
                by_label[labels] = by_label.get(labels, 0.0) + value
            elif key.startswith("refused_"):
                refusals.add_metric([key[8:]], value)
        for labels, value in sorted(by_label.items()):
            receipts.add_metric(list(labels), value)
        yield states
        yield receipts
        yield refusals
        kept = self._client.xlen(f"{prefix}{c.KEY_DEAD_RECEIPTS}")
        kept += self._client.hlen(f"{prefix}{c.KEY_UNMATCHED}")  # written before round 2
        yield GaugeMetricFamily("pinrelay_unmatched_receipts", "Receipts kept as dead letters, not applied "
                                "(capped at PINRELAY_DEAD_LETTER_CAP)", value=float(kept))
        yield GaugeMetricFamily("pinrelay_parked_receipts", "Receipts waiting for their send",
                                value=float(self._client.zcard(f"{prefix}{c.KEY_PARKED}")))
        depth, age = self._queue_depth_and_age()
        yield GaugeMetricFamily("pinrelay_queue_depth", "Send tasks waiting in the broker", value=depth)
        yield GaugeMetricFamily("pinrelay_oldest_queued_age_seconds",
                                "Age of the oldest waiting send task", value=age)
        pending = 0.0
        try:
            groups: Any = self._client.xinfo_groups(f"{prefix}{c.KEY_RECEIPTS_STREAM}")
            pending = float(sum(int(g.get("pending", 0)) + int(g.get("lag") or 0) for g in groups))
        except redis.ResponseError:
            pass
        yield GaugeMetricFamily("pinrelay_result_queue_pending",
                                "Receipts queued or read but not yet correlated", value=pending)

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
                                             "created_at")
            return depth, max(0.0, time.time() - float(created)) if created else 0.0
        except (ValueError, KeyError, TypeError):
            return depth, 0.0


def use_multiprocess_dir(prefix: str = "pinrelay-metrics-") -> Callable[[], None]:
    """Have this process and the ones it forks write values to ``PROMETHEUS_MULTIPROC_DIR``.

    A directory given in the environment is used as it is (it must be empty and this
    process group's alone); otherwise a private one is made. Returns the clean-up to
    call at exit, which removes only a directory made here.
    """
    given = os.environ.get(MULTIPROC_ENV)
    path = given or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(path, exist_ok=True)
    os.environ[MULTIPROC_ENV] = path
    _value_class_follows_env()
    if given:
        return lambda: None
    return lambda: shutil.rmtree(path, ignore_errors=True)


def serve_metrics(
    port: int,
    *,
    host: str = "0.0.0.0",
    instruments: tuple[Lazy[Any], ...] = (),
    collectors: tuple[Collector, ...] = (),
    log: Any = None,
) -> bool:
    """Expose ``/metrics`` on ``host:port`` from a daemon thread; False if the port is taken.

    Multiprocess-aware when ``PROMETHEUS_MULTIPROC_DIR`` is set (every process of the
    group, prefork children included, is summed). ``instruments`` are built now so they
    show from the start. A busy port (a second worker started with the same environment
    file) is one warning line on ``log``, not a crash: the process runs on without an
    endpoint of its own.
    """
    for instrument in instruments:
        instrument.get()
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    for collector in collectors:
        registry.register(collector)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if log is not None:
            log.warning("metrics_unavailable", port=port, host=host, error=exc.strerror or str(exc),
                        hint="another process holds this port (a second worker with the same "
                        "environment file?): give this one its own PINRELAY_METRICS_PORT")
        return False
    return True
