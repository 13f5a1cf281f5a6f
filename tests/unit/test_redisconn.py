"""The one Redis client factory and the one bytes->str helper."""

from __future__ import annotations

import redis

from worker.redisconn import client_options, redis_client, redis_pool
from worker.text import to_text


def test_defaults_are_the_worker_timeouts() -> None:
    """Read 5 s, connect 3 s, health check 30 s, retry a timeout: what every process used."""
    assert client_options() == {"socket_timeout": 5.0, "socket_connect_timeout": 3.0,
                                "health_check_interval": 30, "retry_on_timeout": True}


def test_overrides_replace_single_options() -> None:
    """An override changes its option only; the others keep the defaults."""
    client = redis_client("redis://127.0.0.1:1/0", socket_timeout=None, decode_responses=True)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] is None
    assert kwargs["socket_connect_timeout"] == 3.0
    assert kwargs["decode_responses"] is True
    client.close()
    pool = redis_pool("redis://127.0.0.1:1/0", health_check_interval=10)
    assert isinstance(pool, redis.ConnectionPool)
    assert pool.connection_kwargs["health_check_interval"] == 10
    assert pool.connection_kwargs["socket_timeout"] == 5.0
    pool.disconnect()


def test_client_talks_to_redis(redis_url: str) -> None:
    client = redis_client(redis_url)
    try:
        assert client.ping()
    finally:
        client.close()


def test_to_text() -> None:
    """Bytes are decoded as UTF-8, a str is kept, anything else goes through str()."""
    assert to_text(b"caf\xc3\xa9") == "café"
    assert to_text("already") == "already"
    assert to_text(7) == "7"
