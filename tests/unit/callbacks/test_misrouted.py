"""A `send_task` without queue="pinrelay" lands in Celery's `celery` list; the sweep explains it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from worker.config import Settings
from worker.records.deadletters import DeadLetters
from worker.records.store import RecordStore
from worker.taskqueue.misrouted import MisroutedCollector, MisroutedSweep


@pytest.fixture
def plain_celery(settings: Settings, redis_client: redis.Redis) -> Iterator[Celery]:
    """Another service's Celery app: it knows nothing of pinrelay's routes."""
    app = Celery("other-service", broker=settings.redis_url, set_as_current=False)
    yield app
    app.close()
    redis_client.delete("celery")


def test_a_misrouted_send_is_taken_out_counted_logged_and_recorded(
        settings: Settings, redis_client: redis.Redis, plain_celery: Celery) -> None:
    """The message leaves `celery`; the warning names the fix; `status <task id>` says why it failed."""
    result = plain_celery.send_task("pinrelay.send_pin", kwargs={"to": "16365553226", "pin": "482913"},
                                    kwargsrepr="{'to': '1636555****', 'pin': '[redacted]'}")
    plain_celery.send_task("other.task", kwargs={})
    assert redis_client.llen("celery") == 2
    with capture_logs() as logs:
        found = MisroutedSweep(settings, redis_client).sweep()
    assert found == [result.id]
    remaining = [json.loads(raw)["headers"]["task"] for raw in redis_client.lrange("celery", 0, -1)]
    assert remaining == ["other.task"]  # someone else's task is left alone
    (event,) = [e for e in logs if e["event"] == "misrouted_task"]
    assert event["log_level"] == "warning" and "queue=" in event["fix"] and settings.queue in event["fix"]
    record = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60).get(result.id)
    assert record["state"] == "error" and "misrouted" in record["error_text"]
    assert record["to"] == "1636555****"
    assert "482913" not in json.dumps(record)
    assert DeadLetters(redis_client, settings.key_prefix).detail("tasks", result.id) is not None
    registry = CollectorRegistry()
    registry.register(MisroutedCollector(redis_client, settings))
    assert b"pinrelay_misrouted_tasks_total 1.0" in generate_latest(registry)
    assert MisroutedSweep(settings, redis_client).sweep() == []  # counted once
