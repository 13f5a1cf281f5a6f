"""`up`'s Redis data directory is one server's at a time, even after its parent died."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.errors import ConfigError
from worker.local.embedded import EmbeddedRedis, lock_data_dir


def test_a_second_server_on_locked_data_is_refused(tmp_path: Path) -> None:
    """While one embedded Redis runs on a directory, another start on it is a ConfigError."""
    first = EmbeddedRedis(data_dir=str(tmp_path), appendonly=True, lock=True).start()
    try:
        with pytest.raises(ConfigError, match=f"Redis data in {tmp_path} is in use"):
            EmbeddedRedis(data_dir=str(tmp_path), appendonly=True, lock=True).start()
    finally:
        first.stop()
    lock_fd = lock_data_dir(str(tmp_path))  # free again once it stopped
    os.close(lock_fd)


def test_the_lock_outlives_the_parent_while_redis_runs(tmp_path: Path) -> None:
    """redis-server inherits the lock: with the parent's descriptor closed (as if the parent were
    killed) the directory stays locked until the server exits."""
    server = EmbeddedRedis(data_dir=str(tmp_path), appendonly=True, lock=True).start()
    try:
        assert server._lock_fd is not None
        os.close(server._lock_fd)
        server._lock_fd = None
        with pytest.raises(ConfigError, match="in use"):
            lock_data_dir(str(tmp_path))
    finally:
        server.stop()
    os.close(lock_data_dir(str(tmp_path)))
