"""The settle watch: which records have a callback due, turned into delivery tasks.

Records are settled by many scripts (the worker's ``FINISH`` and ``CLAIM``, the correlator's
``CORRELATE``, a replay), so instead of a hook in each, the records that have a
``callback_url`` sit in a watch set (``cbwatch:<kind>``, id -> when to look next) and one
sweep looks at the ones due: a record whose state is settled and differs from the state its
callback last told (``callback_state``) gets a ``pinrelay.deliver_callback`` task. The
sweep costs nothing for sends without a callback, and nothing in any other script.

A send is told each settled state once: ``unconfirmed`` (the PIN may have gone out) and,
should a receipt still arrive, its final state after that.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import redis

from worker import constants as c
from worker import lua
from worker.logs import get_logger
from worker.states import FINAL_STATES, State
from worker.text import to_text

_WATCH: Final = lua.script("callback_watch")
_EVENT_NAMESPACE: Final = uuid.UUID("5b0a3c52-8f3e-4d0e-9b61-7c4f2f1de0a1")
LEASE_S: Final = 60.0  # a published task not heard of within this is published again
SHORTEST_LOOK_S: Final = 0.5
LONGEST_LOOK_S: Final = 30.0
BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class WatchKind:
    """One kind of record that can carry a callback, and which of its states are told."""

    name: str  # "pin" or "verification": the watch set's suffix and the task's ``kind``
    record_key: str  # key suffix of the record hash, behind the prefix (``req:``)
    state_field: str
    ending: frozenset[str]  # told, and watching stops
    telling: frozenset[str] = frozenset()  # told, and watching goes on (a later final state)

    def watch_key(self, prefix: str) -> str:
        return f"{prefix}{c.KEY_CALLBACK_WATCH}{self.name}"


PIN: Final = WatchKind("pin", c.KEY_RECORD, "state", frozenset(str(s) for s in FINAL_STATES),
                       frozenset({State.UNCONFIRMED.value}))
# A verification is told once it ends (worker/verify/store.py: pending -> approved | locked | expired).
VERIFICATION: Final = WatchKind("verification", c.KEY_VERIFICATION, "state",
                                frozenset({"approved", "locked", "expired"}))
KINDS: dict[str, WatchKind] = {PIN.name: PIN, VERIFICATION.name: VERIFICATION}


def event_id(kind: str, record_id: str, state: str) -> str:
    """The same for every attempt (and every republish) of one event: receivers de-duplicate on it."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{kind}:{record_id}:{state}").hex


def watch(client: redis.Redis, prefix: str, kind: WatchKind, record_id: str,
          now: float | None = None) -> None:
    """Put ``record_id`` on the watch (for records created outside :class:`Producer`)."""
    client.zadd(kind.watch_key(prefix), {record_id: time.time() if now is None else now})


Publish = Callable[[dict[str, str]], None]


class SettleWatch:
    """Runs the sweep for every kind and publishes one task per callback due."""

    def __init__(self, client: redis.Redis, prefix: str, publish: Publish,
                 kinds: dict[str, WatchKind] | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._publish = publish
        self._kinds = KINDS if kinds is None else kinds
        self._script = client.register_script(_WATCH)
        self._log = get_logger("pinrelay.callbacks")

    def sweep(self, now: float | None = None) -> list[dict[str, str]]:
        """Publish the callbacks due now; the task kwargs published, in order."""
        moment = time.time() if now is None else now
        published = []
        for kind in self._kinds.values():
            args: list[Any] = [f"{moment:.3f}", f"{self._prefix}{kind.record_key}", kind.state_field,
                               " ".join(sorted(kind.ending)), " ".join(sorted(kind.telling)), BATCH,
                               LEASE_S, SHORTEST_LOOK_S, LONGEST_LOOK_S]
            found = [to_text(x) for x in self._script(keys=[kind.watch_key(self._prefix)], args=args)]
            for record_id, state in zip(found[::2], found[1::2], strict=True):
                task = {"kind": kind.name, "record_id": record_id, "state": state,
                        "event_id": event_id(kind.name, record_id, state)}
                try:
                    self._publish(task)
                except Exception as exc:  # the lease brings it back; the sweep goes on
                    self._log.warning("callback_publish_failed", error=f"{type(exc).__name__}: {exc}", **task)
                    continue
                published.append(task)
        if published:
            self._log.info("callbacks_due", count=len(published))
        return published


def celery_publisher(app: Any, queue: str) -> Publish:
    """Publish a delivery task on ``queue`` with ``app`` (the correlator's Celery app)."""

    def publish(task: dict[str, str]) -> None:
        app.send_task(c.TASK_DELIVER_CALLBACK, kwargs=task, queue=queue)

    return publish
