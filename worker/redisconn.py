"""The one way pinrelay builds a Redis client.

Every process (worker, producer, correlator, receiver, CLI, bench) gets its client
here so the timeouts are chosen once: a Redis that stops answering becomes an error
within seconds instead of a hang, a pooled connection idle long enough to have been
dropped by a proxy is PINGed before use, and a read that timed out is retried once.
A caller with a different need (the receiver's fast 503, a start-up probe, a bench
client that runs huge pipelines) passes overrides, which replace single options.

With Redis Sentinel (a ``redis+sentinel://`` URL, which :class:`worker.config.Settings`
builds from ``PINRELAY_REDIS_SENTINELS``; see :mod:`worker.redisurl`) the client is
redis-py's Sentinel-managed one: each new connection asks the Sentinels where the primary
is, and a connection to a primary that died or was demoted is dropped, so after a
failover every process reaches the new primary without a restart and without any caller
knowing it is not talking to one fixed Redis.

Foundation module: imports redis-py only (never celery or phonenumbers), so the
receipt receiver can use it.
"""

from __future__ import annotations

from typing import Any, Final

import redis
from redis.connection import parse_url
from redis.sentinel import Sentinel, SentinelConnectionPool

from worker.redisurl import is_sentinel_url, is_tls_url, parse_sentinel_url, plain_equivalent

__all__ = [
    "SOCKET_TIMEOUT_S",
    "CONNECT_TIMEOUT_S",
    "HEALTH_CHECK_INTERVAL_S",
    "client_options",
    "sentinel_options",
    "redis_client",
    "redis_pool",
]

SOCKET_TIMEOUT_S: Final = 5.0  # a command (or its reply) taking longer is an error
CONNECT_TIMEOUT_S: Final = 3.0  # an unreachable host is an error this fast
HEALTH_CHECK_INTERVAL_S: Final = 30  # PING a pooled connection idle this long before use


def client_options(**overrides: Any) -> dict[str, Any]:
    """The keyword arguments of every pinrelay Redis connection, with ``overrides`` applied."""
    options: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry_on_timeout": True,
    }
    options.update(overrides)
    return options


def sentinel_options(url: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of the connections to the Sentinels themselves: the socket timeouts
    (a dead Sentinel must not stall the others' answer), and TLS with the URL's CA when the
    URL is TLS. No user or password: those are the primary's, not the Sentinels'."""
    base = client_options(**overrides)
    options: dict[str, Any] = {k: base[k] for k in ("socket_timeout", "socket_connect_timeout") if k in base}
    if is_tls_url(url):
        tls = {k: v for k, v in parse_url(plain_equivalent(url)).items() if k.startswith("ssl_")}
        options.update(ssl=True, **tls)
    return options


def redis_client(url: str, **overrides: Any) -> redis.Redis:
    """A client (with its own pool) for ``url``; see :func:`client_options` for the defaults."""
    if is_sentinel_url(url):
        return redis.Redis.from_pool(redis_pool(url, **overrides))
    return redis.Redis.from_url(url, **client_options(**overrides))


def redis_pool(url: str, **overrides: Any) -> redis.ConnectionPool:
    """A connection pool for ``url`` with the same defaults, for callers that share one pool;
    for a Sentinel URL a :class:`SentinelConnectionPool` on the primary."""
    if is_sentinel_url(url):
        return _sentinel_pool(url, overrides)
    return redis.ConnectionPool.from_url(url, **client_options(**overrides))


def _sentinel_pool(url: str, overrides: dict[str, Any]) -> SentinelConnectionPool:
    """The primary's pool: options parsed by redis-py from the host-less ``redis(s)://``
    equivalent (user, password, db, ``ssl_*``), which win over ``overrides`` as URL options
    do in ``from_url``."""
    target = parse_sentinel_url(url)
    from_url = parse_url(target.plain)
    tls = from_url.pop("connection_class", None) is redis.SSLConnection
    options = {**client_options(**overrides), **from_url}
    if tls:
        options["ssl"] = True  # the pool picks SentinelManagedSSLConnection
    manager = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options(url, **overrides))
    return SentinelConnectionPool(target.master, manager, **options)

