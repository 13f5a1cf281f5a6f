"""Prometheus metrics of the worker side (send attempts, outcomes, latencies).

The receiver and correlator export their own; each process serves its registry
on ``PINRELAY_METRICS_PORT`` when set (prefork children use the multiprocess
mode of prometheus-client when ``PROMETHEUS_MULTIPROC_DIR`` is set).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SEND_ATTEMPTS = Counter(
    "pinrelay_send_attempts_total",
    "Provider calls by outcome (accepted/transient/permanent/unconfirmed) and status code",
    ["outcome", "code"],
)
SUBMIT_LATENCY = Histogram(
    "pinrelay_submit_latency_seconds",
    "Latency of one provider 2FA call",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class WorkerObserver:
    """Feeds :mod:`worker.delivery` events into the metrics above."""

    def attempt(self, outcome: str, code: str, latency_s: float) -> None:
        SEND_ATTEMPTS.labels(outcome=outcome, code=code).inc()
        SUBMIT_LATENCY.observe(latency_s)
