"""The HTTP API's Prometheus counter, served at ``GET /metrics`` (:mod:`webhook.http.metrics`).

As with the receiver, the launcher sets ``PROMETHEUS_MULTIPROC_DIR`` so the granian workers'
counters add up in one scrape.
"""

from __future__ import annotations

from prometheus_client import Counter

REQUESTS = Counter(
    "pinrelay_api_requests", "HTTP API requests by route template and HTTP status", ["route", "status"]
)
