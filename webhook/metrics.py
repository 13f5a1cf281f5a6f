"""The receiver's Prometheus metrics, served at ``GET /metrics``.

granian runs several worker processes; when ``PROMETHEUS_MULTIPROC_DIR`` is set
(``pinrelay webhook`` sets it) every worker writes there and ``/metrics``
aggregates them, so a scrape sees the whole receiver, not one worker. The counter
is built on first use (:class:`worker.metrics.Lazy`), so whichever module imported
prometheus-client first, it follows the directory in the environment at that time.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest

from worker.metrics import MULTIPROC_ENV, Lazy

REQUESTS = Lazy(lambda: Counter(
    "pinrelay_webhook_requests", "Receipt receiver requests by HTTP status", ["status"]
))


def render() -> tuple[str, bytes]:
    """The exposition text (aggregated over worker processes when multiprocess)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return CONTENT_TYPE_LATEST, generate_latest(registry)
    return CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
