"""Booking the expiry sweep of a verification (:mod:`worker.verify.tasks` runs it).

Apart from the task so that the use case (:mod:`worker.verify.service`) can book one
without importing the task module that imports it.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from worker import constants as c
from worker.config import Settings

__all__ = ["expiry_scheduler"]


def expiry_scheduler(app: Celery, settings: Settings) -> Callable[[str, float], None]:
    """``schedule(verification_id, delay_s)``: publish ``pinrelay.verify_expire`` to run after ``delay_s``.

    The countdown is capped at a quarter of the visibility timeout: past it a Redis broker
    would hand the waiting task to a second worker; the task books itself again instead.
    """
    longest = settings.visibility_timeout_s / 4

    def schedule(verification_id: str, delay_s: float) -> None:
        app.send_task(c.TASK_VERIFY_EXPIRE, kwargs={"verification_id": verification_id},
                      countdown=max(0.0, min(delay_s, longest)), queue=settings.callback_queue_name)

    return schedule
