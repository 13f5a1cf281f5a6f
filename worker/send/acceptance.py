"""Recording a provider's acceptance, through a Redis blip: retried, then spooled.

Once the provider has accepted, the write that records it is retried with bounded backoff
until the claim lease runs out (a Redis blip must not turn a known acceptance into
``unconfirmed``); what is still unwritten then goes to the :class:`Spool`
(:mod:`worker.send.spool`), which records it when Redis is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import redis

from worker.records.store import RecordStore
from worker.states import State

ACCEPT_WRITE_BACKOFF_S: Final = (0.05, 1.0)  # first wait and cap between writes of an acceptance
ACCEPT_WRITE_MAX_TRIES: Final = 200  # a bound even if ``sleep`` does not sleep (tests)


class Spool(Protocol):
    """Where an acceptance waits when Redis cannot take it (see :mod:`worker.send.spool`)."""

    def keep(self, request_id: str, message_id: str, fields: Mapping[str, str]) -> None: ...

    def done(self, request_id: str) -> None: ...

    def hand_over(self, request_id: str) -> None: ...


class NoSpool:
    """Keeps nothing: without a spool, an acceptance not written within the lease is lost."""

    def keep(self, request_id: str, message_id: str, fields: Mapping[str, str]) -> None:
        return None

    def done(self, request_id: str) -> None:
        return None

    def hand_over(self, request_id: str) -> None:
        return None


def record_acceptance(
    store: RecordStore, spool: Spool, sleep: Callable[[float], None], request_id: str, message_id: str,
    fields: Mapping[str, str | None], deadline: float, log: Any,
) -> str:
    """Write ``submitted``; on a Redis error keep retrying (bounded backoff) until the claim
    lease ends at ``deadline`` (monotonic), then leave the acceptance to the spool."""
    delay, cap = ACCEPT_WRITE_BACKOFF_S
    tries = 0
    while True:
        try:
            state = store.finish(request_id, State.SUBMITTED, message_id=message_id, fields=fields)
        except redis.RedisError as exc:
            tries += 1
            if tries == 1:
                kept = {k: v for k, v in fields.items() if v is not None}
                spool.keep(request_id, message_id, kept)
                log.warning("acceptance_write_failed", message_id=message_id, error=str(exc),
                            retry_for_s=round(max(0.0, deadline - time.monotonic()), 1))
            if time.monotonic() + delay >= deadline or tries >= ACCEPT_WRITE_MAX_TRIES:
                spool.hand_over(request_id)
                log.error("acceptance_spooled", message_id=message_id, tries=tries, error=str(exc),
                          note="accepted by the provider; recorded when Redis answers again")
                return State.SENDING.value
            sleep(delay)
            delay = min(delay * 2, cap)
            continue
        if tries:
            spool.done(request_id)
            log.warning("acceptance_recorded_late", message_id=message_id, tries=tries, state=state)
        return state
