"""The unit tier refuses to start a process (tests/unit/conftest.py), and only there."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis


def test_a_unit_test_cannot_start_a_process() -> None:
    with pytest.raises(AssertionError, match="belong in tests/integration"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_the_runs_redis_is_the_one_exception(redis_url: str) -> None:
    """The session's Redis (started by ``redis_url`` in tests/conftest.py) is up."""
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
    finally:
        client.close()
