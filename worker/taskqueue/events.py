"""Task events for Flower, published in batches instead of one publish per event.

Celery's worker already buffers task events (``task-received``, ``task-started``,
``task-succeeded``, ...) and publishes them as one ``task.multi`` message, which Flower's
event receiver unpacks, but it flushes that buffer on the very next turn of its event loop,
so at any realistic rate each send still costs about two ``PUBLISH`` commands and two kombu
publishes in the worker (measured: 2.04 per send, ~15% of the worker's CPU). Flushing at
most every :data:`~worker.constants.TASK_EVENT_FLUSH_S` instead lets one publish carry the
events of every send in that window: Flower shows a task that much later, and nothing else
changes. Celery still flushes at once when the buffer holds its limit (24 events), so the
buffer stays bounded.

Selected with Celery's ``worker_consumer`` setting (:func:`worker.taskqueue.app.celery_config`).
"""

from __future__ import annotations

from celery.worker.consumer import Consumer

from worker import constants as c


class BatchedEventsConsumer(Consumer):  # type: ignore[misc]  # Celery is untyped
    """Celery's consumer, flushing buffered task events on a timer rather than every loop turn."""

    _flush_pending = False

    def on_send_event_buffered(self) -> None:
        if not self.hub:  # no event loop (solo/threads pools): Celery publishes at once
            return
        if not self._flush_pending:
            self._flush_pending = True
            self.hub.call_later(c.TASK_EVENT_FLUSH_S, self._flush_batch)

    def _flush_batch(self) -> None:
        self._flush_pending = False
        self._flush_events()
