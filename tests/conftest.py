"""Shared fixtures: a private, real Redis for the whole run, and isolated settings per test.

The suite never touches a Redis it did not start, unless PINRELAY_TEST_REDIS_URL
names one; even then every test works under its own key prefix and Celery
queue name and deletes what it wrote.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from worker.config import Settings
from worker.local.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis dedicated to this test run."""
    given = os.environ.get("PINRELAY_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = EmbeddedRedis(appendonly=False).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def settings(redis_url: str, redis_client: redis.Redis) -> Iterator[Settings]:
    """Settings isolated to this test: own key prefix and queue, cleaned after."""
    tag = uuid.uuid4().hex[:10]
    base = Settings.from_env({})
    configured = replace(
        base,
        redis_url=redis_url,
        key_prefix=f"t{tag}:",
        queue=f"pinrelay-t{tag}",
        log_format="json",
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        connect_timeout_s=1.0,
        read_timeout_s=2.0,
        rate_limit_per_s=0.0,
        per_number_10min=0,
        per_number_day=0,
        per_prefix_minute=0,
    )
    yield configured
    keys = list(redis_client.scan_iter(match=f"t{tag}:*", count=1000))
    keys += list(redis_client.scan_iter(match=f"*pinrelay-t{tag}*", count=1000))
    if keys:
        redis_client.delete(*keys)
