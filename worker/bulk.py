"""Publishing many send tasks in one go.

kombu's ``Producer.batch()`` buffers the Redis commands of many publishes into
one pipeline (and falls back to one-by-one publishing on brokers without
batching, such as RabbitMQ).
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from . import constants as c
from .config import Settings

BATCH_SIZE = 1000


def publish_many(app: Celery, settings: Settings, request_ids: Sequence[str]) -> None:
    if not request_ids:
        return
    with app.producer_or_acquire() as producer, producer.batch(max_size=BATCH_SIZE):
        for request_id in request_ids:
            app.send_task(
                c.TASK_SEND_PIN,
                kwargs={"request_id": request_id},
                task_id=request_id,
                queue=settings.queue,
                producer=producer,
            )
