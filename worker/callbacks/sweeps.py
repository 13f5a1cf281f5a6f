"""The periodic jobs the producer API adds to the correlator's loop (``pinrelay correlate``).

The correlator already runs one loop per deployment with its own sweeps; these two ride on
it rather than needing a process of their own: the settle watch (:mod:`.watch`, callbacks
due) and the misrouted-task sweep (:mod:`worker.taskqueue.misrouted`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from worker import constants as c
from worker.callbacks.watch import SettleWatch, celery_publisher
from worker.config import Settings
from worker.logs import get_logger
from worker.taskqueue.misrouted import MisroutedSweep

Sweep = tuple[float, Callable[[], object]]


def correlator_sweeps(app: Any, settings: Settings, client: redis.Redis) -> list[Sweep]:
    """(every seconds, job) pairs for :class:`worker.correlate.correlator.Correlator`."""
    watch = SettleWatch(client, settings.key_prefix, celery_publisher(app, settings.callback_queue_name))
    misrouted = MisroutedSweep(settings, client)
    return [(c.CALLBACK_WATCH_SWEEP_S, guarded("callback_watch", watch.sweep)),
            (c.MISROUTED_SWEEP_S, guarded("misrouted_tasks", misrouted.sweep))]


def guarded(name: str, job: Callable[[], object]) -> Callable[[], object]:
    """``job``, logging what it raises instead of ending the correlator's loop: these sweeps
    run again in a moment, and receipts must keep being correlated meanwhile (a Redis outage
    shows in the loop's own next read and gets its backoff there)."""
    log = get_logger("pinrelay.correlator")

    def run() -> object:
        try:
            return job()
        except Exception as exc:
            log.warning("correlator_sweep_failed", sweep=name, error=f"{type(exc).__name__}: {exc}")
            return None

    return run
