"""The HTTP API's Prometheus metrics, served at ``GET /metrics``.

As with the receiver, ``pinrelay api`` sets ``PROMETHEUS_MULTIPROC_DIR`` so the granian
workers' counters add up in one scrape.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest

REQUESTS = Counter(
    "pinrelay_api_requests", "HTTP API requests by route template and HTTP status", ["route", "status"]
)


def render() -> tuple[str, bytes]:
    """The exposition text (aggregated over worker processes when multiprocess)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return CONTENT_TYPE_LATEST, generate_latest(registry)
    return CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
