"""The durable result queue: a Redis Stream the correlator reads with its consumer group.

A receipt is acknowledged to the provider only after :meth:`ResultQueue.push`
returned, so an answered receipt is always on ``{prefix}receipts``. Redis
errors propagate (``redis.RedisError``); the WSGI layer answers 503 and the
provider sends the receipt again later.

For signed receipts the replay guard and the push are one Lua script, so two
deliveries of the same ``nonce`` racing on two workers queue it exactly once.
The script checks the nonce before ``XADD`` and records it after, so a failed
``XADD`` (out of memory, say) leaves no nonce behind to swallow the provider's
retry; inside a script that is as atomic as ``SET NX`` first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.config import Settings
from worker.constants import KEY_NONCES, KEY_RECEIPTS_STREAM
from worker.errors import ConfigError

SOCKET_TIMEOUT_S: Final = 2.0  # connect and read: a stuck Redis becomes a 503 quickly
HEALTH_CHECK_INTERVAL_S: Final = 10  # PING a pooled connection idle this long before use
RETRIES: Final = 1  # one immediate retry covers a pooled connection Redis has closed

# KEYS[1] the receipts stream, KEYS[2] the nonce key;
# ARGV[1] nonce TTL in seconds, ARGV[2..] field, value, field, value, ...
PUSH_ONCE_LUA: Final = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return false
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('SET', KEYS[2], id, 'EX', ARGV[1])
return id
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ResultQueue:
    """Appends receipts to ``{key_prefix}receipts``; replayed nonces are dropped."""

    __slots__ = ("_client", "_nonce_prefix", "_nonce_ttl", "_push_once", "stream")

    def __init__(self, client: redis.Redis, key_prefix: str, nonce_ttl_s: int) -> None:
        if nonce_ttl_s <= 0:
            raise ValueError(f"nonce_ttl_s must be positive, got {nonce_ttl_s!r}")
        self._client = client
        self.stream = key_prefix + KEY_RECEIPTS_STREAM
        self._nonce_prefix = key_prefix + KEY_NONCES
        self._nonce_ttl = str(int(nonce_ttl_s))
        self._push_once = client.register_script(PUSH_ONCE_LUA)

    def push(self, fields: Mapping[str, str], nonce: str | None = None) -> str | None:
        """``XADD`` the fields; the entry id, or None when ``nonce`` was already seen."""
        if nonce is None:
            entry: dict[Any, Any] = dict(fields)
            return _text(self._client.xadd(self.stream, entry))
        args: list[str] = [self._nonce_ttl]
        for item in fields.items():
            args.extend(item)
        entry_id = self._push_once(keys=(self.stream, self._nonce_prefix + nonce), args=args)
        return None if entry_id is None else _text(entry_id)

    def ping(self) -> bool:
        """Whether Redis answers right now (never raises)."""
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False


_pools: dict[tuple[int, str], redis.ConnectionPool] = {}


def connect(settings: Settings) -> redis.Redis:
    """A client on this process's pool for ``settings.redis_url`` (one pool per process)."""
    if settings.redis_url is None:
        raise ConfigError("the receipt receiver needs PINRELAY_REDIS_URL")
    key = (os.getpid(), settings.redis_url)  # a forked worker must not share its parent's sockets
    pool = _pools.get(key)
    if pool is None:
        pool = redis.ConnectionPool.from_url(
            settings.redis_url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=HEALTH_CHECK_INTERVAL_S,
            retry=Retry(NoBackoff(), RETRIES),
        )
        _pools[key] = pool
    return redis.Redis(connection_pool=pool)
