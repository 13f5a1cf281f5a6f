"""The one way pinrelay builds a Redis client.

Every process (worker, producer, correlator, receiver, CLI, bench) gets its client
here so the timeouts are chosen once: a Redis that stops answering becomes an error
within seconds instead of a hang, a pooled connection idle long enough to have been
dropped by a proxy is PINGed before use, and a read that timed out is retried once.
A caller with a different need (the receiver's fast 503, a start-up probe, a bench
client that runs huge pipelines) passes overrides, which replace single options.

Foundation module: imports redis-py only (never celery or phonenumbers), so the
receipt receiver can use it.
"""

from __future__ import annotations

from typing import Any, Final

import redis

__all__ = [
    "SOCKET_TIMEOUT_S",
    "CONNECT_TIMEOUT_S",
    "HEALTH_CHECK_INTERVAL_S",
    "client_options",
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


def redis_client(url: str, **overrides: Any) -> redis.Redis:
    """A client (with its own pool) for ``url``; see :func:`client_options` for the defaults."""
    return redis.Redis.from_url(url, **client_options(**overrides))


def redis_pool(url: str, **overrides: Any) -> redis.ConnectionPool:
    """A connection pool for ``url`` with the same defaults, for callers that share one pool."""
    return redis.ConnectionPool.from_url(url, **client_options(**overrides))

