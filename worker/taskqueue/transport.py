"""kombu's Redis transport, with one Redis client per channel instead of one per operation.

kombu's Redis channel builds a new ``redis.Redis`` object for every synchronous
step (each ack, each QoS bookkeeping call, each publish), and redis-py 5/6 fills a
case-insensitive table of response callbacks in every constructor. Profiled
under a steady send load that was 12% of the worker's CPU (``Channel._create_client``),
more than our own three scripts per send. The client is only a front for the
channel's connection pool, and it is thread-safe, so one per channel (rebuilt if
kombu replaces the pool after a connection error) does the same work.

:func:`install` makes it what ``redis://`` means to kombu in this process (the alias
table, not ``broker_transport``: a transport path in the broker URL would break
Flower's broker page, which picks its client by the URL's scheme). Every other
behaviour is kombu's own.
"""

from __future__ import annotations

from typing import Any

import kombu.transport
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    _sync_client: Any = None
    _sync_pool: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        if self._sync_client is None or self._sync_pool is not pool:
            self._sync_client = super()._create_client()
            self._sync_pool = pool
        return self._sync_client


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


def install() -> None:
    """Point kombu's ``redis`` alias at :class:`Transport` (idempotent)."""
    target = f"{__name__}:Transport"
    if kombu.transport.TRANSPORT_ALIASES.get("redis") != target:
        kombu.transport.TRANSPORT_ALIASES["redis"] = target
        kombu.transport._transport_cache.pop("redis", None)
