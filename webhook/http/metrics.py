"""``GET /metrics`` for an app on the core: the Prometheus exposition text.

granian runs several worker processes; when ``PROMETHEUS_MULTIPROC_DIR`` is set (the launcher,
:mod:`webhook.http.launcher`, sets it) every worker writes its samples there and a scrape adds
them up, so it sees the whole server, not the one worker that answered.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from worker.metrics import MULTIPROC_ENV

from .answers import Answer, raw_answer


def exposition() -> bytes:
    """The exposition text (aggregated over worker processes when multiprocess)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_answer() -> Answer:
    """The 200 answer of ``GET /metrics`` (blocking: it reads the workers' files)."""
    return raw_answer(200, CONTENT_TYPE_LATEST, exposition())
