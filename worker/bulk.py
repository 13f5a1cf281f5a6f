"""Publishing many send tasks in one Redis round trip.

For a Redis broker the Celery (protocol 2) messages are built here with Celery's
own ``amqp.as_task_v2`` and LPUSHed in the same pipeline as the records, exactly
as kombu's Redis transport would store them, so one bulk enqueue is one round
trip. Other brokers (RabbitMQ) get ordinary one-by-one publishes.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from typing import Any

from celery import Celery

from . import constants as c
from .config import Settings


def is_redis_broker(settings: Settings) -> bool:
    return settings.effective_broker_url.startswith(("redis://", "rediss://", "unix://"))


def redis_message(app: Celery, queue: str, request_id: str) -> str:
    """One send task as the JSON kombu's Redis transport keeps in the queue list."""
    headers, properties, body, _ = app.amqp.as_task_v2(
        request_id, c.TASK_SEND_PIN, kwargs={"request_id": request_id}
    )
    headers["ignore_result"] = True
    envelope = {
        "body": base64.b64encode(json.dumps(body).encode()).decode("ascii"),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            **properties,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope)


def push_messages(pipe: Any, app: Celery, settings: Settings, request_ids: Sequence[str]) -> None:
    """Queue ``LPUSH``es of the send tasks on ``pipe`` (a Redis broker's pipeline)."""
    if request_ids:
        pipe.lpush(settings.queue, *(redis_message(app, settings.queue, rid) for rid in request_ids))


def publish_one_by_one(app: Celery, settings: Settings, request_ids: Sequence[str]) -> None:
    with app.producer_or_acquire() as producer:
        for request_id in request_ids:
            app.send_task(c.TASK_SEND_PIN, kwargs={"request_id": request_id}, task_id=request_id,
                          queue=settings.queue, producer=producer)  # fmt: skip
