"""The receiver's Prometheus counter, served at ``GET /metrics`` (:mod:`webhook.http.metrics`).

The counter is built on first use (:class:`worker.metrics.Lazy`), so whichever module imported
prometheus-client first, it follows ``PROMETHEUS_MULTIPROC_DIR`` as the environment has it then
(the launcher sets it, so a scrape adds up every granian worker).
"""

from __future__ import annotations

from prometheus_client import Counter

from worker.metrics import Lazy

REQUESTS = Lazy(lambda: Counter(
    "pinrelay_webhook_requests", "Receipt receiver requests by HTTP status", ["status"]
))
