"""Send tasks published to a queue no pinrelay worker reads: found, counted, explained.

``app.send_task("pinrelay.send_pin", kwargs=...)`` without ``queue="pinrelay"`` puts the
message in Celery's default ``celery`` list, where it would sit for ever: ``status`` says
unknown, nothing is dead-lettered, no metric moves. The correlator runs this sweep every
few seconds (Redis brokers only): each such message is taken out of that list, counted
(``stats`` field ``misrouted_tasks``, exported as ``pinrelay_misrouted_tasks``), logged as
a warning that names the fix, kept as a dead letter (``dead:tasks``), and a send given by
``to``/``pin`` gets an ``error`` record under its task id saying why, so ``pinrelay status
<task id>`` tells the caller. It is not sent: nobody knows how long it waited, and a late
PIN is worse than none. A task carrying a ``request_id`` (pinrelay's own producer) needs
nothing more: its record is queued, and the lost-task sweep publishes it again.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any, Final

import redis
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from worker import constants as c
from worker.config import Settings
from worker.logs import get_logger
from worker.masking import mask_number
from worker.records.deadletters import DeadLetters
from worker.records.store import RecordStore
from worker.states import State
from worker.text import to_text

STATS_FIELD: Final = "misrouted_tasks"
BATCH: Final = 200  # messages looked at per queue and sweep, oldest first


def fix_text(settings: Settings) -> str:
    return f"pass queue={settings.queue!r} to send_task (or route pinrelay.* to {settings.queue!r})"


def _parse(raw: bytes) -> tuple[str, dict[str, Any]] | None:
    """(task id, kwargs) of a ``pinrelay.send_pin`` message in kombu's Redis format, else None."""
    try:
        message = json.loads(raw)
        headers = message["headers"]
        if headers.get("task") != c.TASK_SEND_PIN:
            return None
        task_id = str(headers["id"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    kwargs: dict[str, Any] = {}
    try:
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        decoded = json.loads(body)
        if isinstance(decoded, list) and len(decoded) > 1 and isinstance(decoded[1], dict):
            kwargs = decoded[1]
    except (ValueError, KeyError, TypeError):
        pass
    return task_id, kwargs


class MisroutedSweep:
    """Takes ``pinrelay.send_pin`` messages out of :data:`constants.MISROUTED_QUEUES`."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self._settings = settings
        self._client = client
        self._store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
        self._dead = DeadLetters(client, settings.key_prefix)
        self._log = get_logger("pinrelay.misrouted")
        broker = settings.effective_broker_url if settings.redis_url or settings.broker_url else ""
        self._queues = [] if not broker.startswith(("redis://", "rediss://", "unix://")) else [
            q for q in c.MISROUTED_QUEUES if q != settings.queue]

    def sweep(self) -> list[str]:
        """The task ids found (and handled) this time."""
        found = []
        for queue in self._queues:
            for raw in self._client.lrange(queue, -BATCH, -1):
                parsed = _parse(raw)
                if parsed is None or not self._client.lrem(queue, 1, raw):
                    continue  # not ours, or a consumer took it in the meantime
                task_id, kwargs = parsed
                self._handle(queue, task_id, kwargs)
                found.append(task_id)
        return found

    def _handle(self, queue: str, task_id: str, kwargs: dict[str, Any]) -> None:
        fix = fix_text(self._settings)
        reason = f"misrouted: published to queue {queue!r}, which no pinrelay worker reads; {fix}"
        self._client.hincrby(f"{self._settings.key_prefix}{c.KEY_STATS}", STATS_FIELD, 1)
        self._dead.add("tasks", task_id, {"task": c.TASK_SEND_PIN, "error": reason})
        request_id = kwargs.get("request_id")
        if request_id is None and not self._store.get_raw(task_id):
            to = kwargs.get("to")
            shown = mask_number(to) if isinstance(to, str) else "?"
            argv = self._store.new_record(task_id, to=shown, pin="", client_ref=None, params=None,
                                          expires_at=time.time())
            self._store.create(task_id, None, argv)
            self._store.finish(task_id, State.ERROR, fields={"error_text": reason})
        self._log.warning("misrouted_task", task_id=task_id, queue=queue, request_id=request_id,
                          fix=fix_text(self._settings))


class MisroutedCollector(Collector):
    """``pinrelay_misrouted_tasks``: every misrouted send task found, cluster-wide (from Redis)."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._client = client
        self._key = f"{settings.key_prefix}{c.KEY_STATS}"

    def collect(self) -> Iterator[Any]:
        value = self._client.hget(self._key, STATS_FIELD)
        yield CounterMetricFamily("pinrelay_misrouted_tasks", "pinrelay.send_pin tasks found in a queue "
                                  "no pinrelay worker reads (fix: queue='pinrelay')",
                                  value=float(to_text(value)) if value else 0.0)
