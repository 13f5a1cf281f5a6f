"""``pinrelay.verify_expire``: the sweep that ends verifications nobody checks again.

A check ends an expired verification itself; this task is for the ones never checked
again, so that they too end (``expired``) and report their sends ``delivered=false``.
Each start books one task for when its code runs out. A countdown never exceeds a
quarter of the broker's visibility timeout (a Redis broker hands an unacknowledged task
to a second worker after it), so a long TTL is reached in hops: the task sweeps, and if
its verification is still pending, books itself again. Every run sweeps *all* due
verifications and owed conversions, so a lost task is covered by the next one anyone
runs, and the owed conversions of a reporter that died are picked up too.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

from worker import constants as c
from worker.config import Settings

__all__ = ["register_verify_tasks", "verifier_for"]


_cache: dict[tuple[int, int], Any] = {}


def verifier_for(app: Celery, settings: Settings) -> Any:
    """This process's :class:`worker.verify.service.Verifier` for ``app`` (rebuilt after a fork)."""
    key = (os.getpid(), id(app))
    found = _cache.get(key)
    if found is None:
        from worker.enqueue.producer import Producer
        from worker.verify.service import Verifier

        found = _cache[key] = Verifier.for_producer(Producer(settings, app))
    return found


def register_verify_tasks(app: Celery, settings: Settings) -> None:
    """Add ``pinrelay.verify_expire`` to ``app`` (called by :func:`worker.worker_app.create_app`)."""

    @app.task(name=c.TASK_VERIFY_EXPIRE, shared=False, acks_late=True, ignore_result=True,
              time_limit=c.SIDE_TASK_TIME_LIMIT_S)
    def verify_expire(verification_id: str) -> int:
        verifier = verifier_for(app, settings)
        ended = verifier.expire([verification_id])
        verifier.report_owed()
        due = verifier.store.due_at(verification_id)
        if due is not None and verifier.schedule is not None:
            verifier.schedule(verification_id, max(0.0, due - time.time()) + 0.5)
        return len(ended)
