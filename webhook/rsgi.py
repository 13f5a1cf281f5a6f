"""The receiver granian serves: ``webhook.rsgi:app_factory`` (``--interface rsgi --factory``).

The receiver (:mod:`webhook.app`) on the HTTP core behind its RSGI front
(:mod:`webhook.http.rsgi`): bodies read by the event loop under
``PINRELAY_WEBHOOK_BODY_TIMEOUT``, receipts group-committed by one writer thread per worker.
The launcher is :mod:`webhook.serve`.
"""

from __future__ import annotations

from .app import receiver_core
from .http.rsgi import RSGIFront, tune_worker_process
from .queue import result_queue
from .wsgi import configure_worker, settings_from_env


def app_factory() -> RSGIFront:
    """Build the receiver from the environment; :class:`ConfigError` without a Redis URL."""
    settings = settings_from_env()
    tune_worker_process()
    configure_worker(settings, interface="rsgi")
    return RSGIFront(receiver_core(settings, result_queue(settings)))
