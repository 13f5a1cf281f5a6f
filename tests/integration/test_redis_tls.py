"""``rediss://`` for records and broker, with the CA from ``PINRELAY_REDIS_CA_FILE``: a real
``redis-server`` listening with TLS only, a CA and server certificate made by the test, a
real Celery worker, the real ``pinrelay`` command; then the same through a Sentinel that
speaks TLS too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import start_live, stop_live
from tests.support.redis_ha import RedisNode, SentinelGroup, TlsFiles, make_tls_files, tls_supported
from tests.support.settings import isolated_settings
from worker.redisconn import redis_client
from worker.worker_app import create_app

CLI = [sys.executable, "-m", "worker.cli"]
TO = "16365553226"

pytestmark = pytest.mark.skipif(not tls_supported(), reason="this redis-server was built without TLS")


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_redis(tls_files: TlsFiles) -> Iterator[RedisNode]:
    """A Redis with no plaintext port at all."""
    node = RedisNode("tls", tls=tls_files).start()
    try:
        yield node
    finally:
        node.stop()


def pinrelay(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(env_extra)
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_worker_sends_through_tls_redis_and_a_tls_broker(
    tls_redis: RedisNode, tls_files: TlsFiles, sim: Simulator, tmp_path: Path
) -> None:
    """Records, the task queue and the worker's broker connection all over TLS, verified
    against the CA: a send reaches the provider and is recorded submitted."""
    assert tls_redis.url.startswith("rediss://")
    live = start_live(tls_redis.url, sim, tmp_path, redis_ca_file=str(tls_files.ca))
    try:
        rid = live.producer.send_pin(TO, "246810")
        record = live.wait_state(rid, {"submitted", "delivered"})
        assert record["message_id"]
        assert live.app.conf.broker_use_ssl["ssl_ca_certs"] == str(tls_files.ca)
    finally:
        stop_live(live)


def test_the_cli_reads_records_over_tls_with_the_ca(tls_redis: RedisNode, tls_files: TlsFiles) -> None:
    settings = isolated_settings(tls_redis.url, redis_ca_file=str(tls_files.ca))
    client = redis_client(settings.redis_url or "")
    try:
        client.hset(f"{settings.key_prefix}req:tls-1", mapping={"id": "tls-1", "state": "queued",
                                                                "to": TO})
        result = pinrelay(settings.to_env(), "status", "tls-1")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["state"] == "queued"
    finally:
        client.delete(f"{settings.key_prefix}req:tls-1")
        client.close()


def test_without_the_ca_the_certificate_is_refused_in_one_line(tls_redis: RedisNode) -> None:
    """The system CAs do not know the test CA: the connection fails, saying why."""
    result = pinrelay({"PINRELAY_REDIS_URL": tls_redis.url}, "status", "tls-1")
    assert result.returncode == 1
    assert "certificate verify failed" in result.stderr and "Traceback" not in result.stderr


def test_a_missing_ca_file_is_named_at_start(tls_redis: RedisNode, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = pinrelay({"PINRELAY_REDIS_URL": tls_redis.url, "PINRELAY_REDIS_CA_FILE": str(missing)},
                      "status", "tls-1")
    assert result.returncode == 2
    assert f"PINRELAY_REDIS_CA_FILE='{missing}' is not a readable file" in result.stderr


def test_a_ca_file_without_tls_is_refused(tls_files: TlsFiles) -> None:
    """A CA with a plain redis:// URL would silently not encrypt: refused."""
    result = pinrelay({"PINRELAY_REDIS_URL": "redis://127.0.0.1:1/0",
                       "PINRELAY_REDIS_CA_FILE": str(tls_files.ca)}, "status", "x")
    assert result.returncode == 2
    assert "PINRELAY_REDIS_CA_FILE is set but neither" in result.stderr


def test_sentinel_over_tls_for_records_and_broker(tls_files: TlsFiles) -> None:
    """Sentinel, primary and replica all TLS-only: the factory's client asks the Sentinel over
    TLS and writes to the primary over TLS; kombu's Sentinel transport does the same."""
    group = SentinelGroup(tls=tls_files, sentinels=1)
    try:
        group.wait_ready()
        fields = group.settings()
        settings = isolated_settings(fields.pop("redis_url"), **fields)
        assert (settings.redis_url or "").startswith("rediss+sentinel://")
        client = redis_client(settings.redis_url or "")
        try:
            client.set(f"{settings.key_prefix}probe", "1")
            primary = group.primary.client()
            try:
                assert primary.get(f"{settings.key_prefix}probe") == b"1"
            finally:
                primary.close()
        finally:
            client.close()
        app = create_app(settings)
        try:
            with app.connection_for_write() as conn:
                queue = conn.SimpleQueue(settings.queue + "-probe")
                queue.put({"probe": "tls"})
                message = queue.get(timeout=5)
                assert message.payload == {"probe": "tls"}
                message.ack()
                queue.close()
        finally:
            app.close()
    finally:
        group.stop()
