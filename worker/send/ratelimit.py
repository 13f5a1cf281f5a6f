"""One send rate for every worker on every host: a token bucket in Redis.

The provider allows about 30 requests/s per API key (API.md §7) and answers
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

import redis

from worker import constants as c
from worker.config import Settings
from worker.errors import DeferSend
from worker.send.delivery import NoLimit, RateLimiter

_BUCKET = """
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return pause - now end
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
"""

_PAUSE = """
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilms = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilms > cur then redis.call('SET', KEYS[1], untilms, 'PX', ARGV[1]) end
return untilms
"""


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
        self._keys = [f"{prefix}{c.KEY_RATE_BUCKET}", f"{prefix}{c.KEY_RATE_PAUSE}"]
        self._rate = rate_per_s
        # Burst 1: the provider counts any sliding second, so a burst on top of the rate
        # would let one second carry more than the limit.
        self._burst = burst if burst is not None else 1.0
        self._max_inline = max_inline_wait_s
        self._sleep = sleep
        self._take = client.register_script(_BUCKET)
        self._pause = client.register_script(_PAUSE)

    def acquire(self) -> float:
        """Take one token, sleeping as long as the bucket says; return seconds waited."""
        waited = 0.0
        while True:
            wait_ms = int(self._take(keys=self._keys, args=[self._rate, self._burst]))
            if wait_ms <= 0:
                return waited
            if waited + wait_ms / 1000 > self._max_inline:
                raise DeferSend(wait_ms / 1000)
            self._sleep(wait_ms / 1000)
            waited += wait_ms / 1000

    def pause(self, seconds: float) -> None:
        """Hold every worker off for ``seconds`` (the provider's own wait)."""
        if seconds > 0:
            self._pause(keys=self._keys[1:], args=[max(1, int(seconds * 1000))])


def build_limiter(settings: Settings, client: redis.Redis) -> RateLimiter:
    """A shared bucket at ``PINRELAY_RATE_LIMIT`` sends/s; 0 turns limiting off."""
    if settings.rate_limit_per_s <= 0:
        return NoLimit()
    return RedisTokenBucket(client, prefix=settings.key_prefix, rate_per_s=settings.rate_limit_per_s)
