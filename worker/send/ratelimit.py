"""One send rate for every worker on every host: a token bucket in Redis.

The provider allows about 30 requests/s per API key (docs/provider-api.md §7) and answers
status 1 or HTTP 429 past it. The bucket lives in Redis and uses Redis's own
clock, so all workers share one budget however many hosts they run on. When the
provider itself says "wait", :meth:`RedisTokenBucket.pause` stops everyone, not
just the task that heard it.

Waits are exact sleeps, never polling loops; a wait longer than
``max_inline_wait_s`` raises :class:`DeferSend` so the task gives its worker
slot back and is re-queued with a countdown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import redis

from worker import constants as c
from worker import lua
from worker.config import Settings
from worker.errors import DeferSend
from worker.records.store import ClaimRate
from worker.send.ports import NoLimit, RateLimiter

_PAUSE: Final = lua.script("rate_pause")  # hold every worker off


class RedisTokenBucket:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str,
        rate_per_s: float,
        burst: float | None = None,
        max_inline_wait_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._keys = [f"{prefix}{c.KEY_RATE_BUCKET}"]
        self._rate = rate_per_s
        # Burst 1: the provider counts any sliding second, so a burst on top of the rate
        # would let one second carry more than the limit.
        self._burst = burst if burst is not None else 1.0
        self._max_inline = max_inline_wait_s
        self._sleep = sleep
        self._pause = client.register_script(_PAUSE)

    def claim_rate(self) -> ClaimRate:
        """The bucket for a send's claim to take its token from (``take_token`` in ``claim.lua``)."""
        return ClaimRate(self._keys[0], self._rate, self._burst)

    def hold(self, wait_s: float, waited: float) -> float:
        """No token yet: sleep ``wait_s`` and return the total waited, or, past
        ``max_inline_wait_s`` in all, give the worker slot back (:class:`DeferSend`)."""
        if waited + wait_s > self._max_inline:
            raise DeferSend(wait_s)
        self._sleep(wait_s)
        return waited + wait_s

    def pause(self, seconds: float) -> None:
        """Hold every worker off for ``seconds`` (the provider's own wait)."""
        if seconds > 0:
            self._pause(keys=self._keys, args=[max(1, int(seconds * 1000))])


def build_limiter(settings: Settings, client: redis.Redis) -> RateLimiter:
    """A shared bucket at ``PINRELAY_RATE_LIMIT`` sends/s; 0 turns limiting off."""
    if settings.rate_limit_per_s <= 0:
        return NoLimit()
    return RedisTokenBucket(client, prefix=settings.key_prefix, rate_per_s=settings.rate_limit_per_s)
