"""Shared fixtures: a private, real Redis for the whole run, and isolated settings per test.

The suite never touches a Redis it did not start, unless PINRELAY_TEST_REDIS_URL
names one; even then every test works under its own key prefix and Celery
queue name and deletes what it wrote (:mod:`tests.support.settings`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.support.settings import cleanup, isolated_settings
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
    configured = isolated_settings(redis_url)
    yield configured
    cleanup(redis_client, configured)
