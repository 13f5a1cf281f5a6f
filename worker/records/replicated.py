"""With Redis Sentinel, a claim is on a replica before the provider is called.

Redis replicates asynchronously: a write the primary acknowledged can be missing from the
replica the Sentinels promote when the primary dies. Losing most writes is recoverable
(a lost ``finish`` leaves the claim, and the redelivered task settles the send as
``unconfirmed``: the claim protocol, docs in :mod:`worker.send.delivery`). Losing the
*claim* is not: the new primary would show the send ``queued``, the redelivered task would
claim it again and the provider would get a second call, a double PIN.

So the claim script and a ``WAIT 1 <ms>`` go down one connection in one round trip (WAIT
counts the replicas that hold this connection's writes), and the provider call comes after.
The primary asks its replicas for an acknowledgement at once, so on a healthy pair the wait
is one replica round trip. A replica that does not answer in time costs that wait once: the
send goes ahead (a primary without a replica is not failed over, so its claim is the only
truth anyway), ``claim_not_replicated`` is logged, and the next claims skip the wait for
:data:`SKIP_AFTER_TIMEOUT_S` so a dead replica does not slow every send.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from worker.config import Settings
from worker.logs import get_logger
from worker.records.store import RecordStore
from worker.redisurl import is_sentinel_url
from worker.text import to_text

__all__ = ["ReplicatedClaimStore", "store_for"]

SKIP_AFTER_TIMEOUT_S: Final = 5.0


class _ClaimThenWait:
    """Stands in for the claim script: the script, then WAIT, pipelined on one connection."""

    def __init__(self, script: Script, client: redis.Redis, wait_ms: int) -> None:
        self._script = script
        self._client = client
        self._wait_ms = wait_ms
        self._skip_until = 0.0
        self.last_replicas: int | None = None  # what the last WAIT answered (None: skipped)
        self._log = get_logger("pinrelay.records")

    def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        if time.monotonic() < self._skip_until:
            self.last_replicas = None
            return self._script(keys=keys, args=args)
        result, replicas = self._pipelined(keys, args)
        if isinstance(result, NoScriptError):  # a fresh primary (after a failover) or a flush
            self._script.sha = self._client.script_load(self._script.script)
            result, replicas = self._pipelined(keys, args)
        for reply in (result, replicas):
            if isinstance(reply, Exception):
                raise reply
        self.last_replicas = int(replicas)
        if self.last_replicas < 1:
            self._skip_until = time.monotonic() + SKIP_AFTER_TIMEOUT_S
            verdict = to_text(result[0]) if result else ""
            self._log.warning("claim_not_replicated", wait_ms=self._wait_ms, verdict=verdict,
                              skip_s=SKIP_AFTER_TIMEOUT_S)
        return result

    def _pipelined(self, keys: Sequence[Any], args: Sequence[Any]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        pipe.wait(1, self._wait_ms)
        return list(pipe.execute(raise_on_error=False))


class ReplicatedClaimStore(RecordStore):
    """A :class:`RecordStore` whose claims wait (up to ``wait_ms``) for one replica."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl_s: int, wait_ms: int) -> None:
        super().__init__(client, prefix=prefix, ttl_s=ttl_s)
        self.claim_wait = _ClaimThenWait(self._claim, client, wait_ms)
        self._claim = self.claim_wait


def store_for(client: redis.Redis, settings: Settings) -> RecordStore:
    """The worker's store: claims wait for a replica with Sentinel (and a wait set), else plain."""
    if settings.redis_url and is_sentinel_url(settings.redis_url) and settings.redis_claim_wait_ms > 0:
        return ReplicatedClaimStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s,
                                    wait_ms=settings.redis_claim_wait_ms)
    return RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
