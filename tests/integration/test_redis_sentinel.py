"""Redis Sentinel as an operator configures it: only ``PINRELAY_REDIS_SENTINELS`` and
``PINRELAY_REDIS_SENTINEL_MASTER`` say where Redis is, ``PINRELAY_REDIS_URL`` keeps the
password and the db. Real ``redis-server`` primary and replica, a real Sentinel, the real
``pinrelay`` command. (The failover itself: tests/reliability/test_sentinel_failover.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.redis_ha import MASTER_NAME, RedisNode, SentinelGroup
from tests.support.settings import isolated_settings
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.records.replicated import ReplicatedClaimStore, store_for
from worker.redisconn import redis_client
from worker.worker_app import create_app

CLI = [sys.executable, "-m", "worker.cli"]
PASSWORD = "s3ntinel-pass"
DB = 2
TO = "16365553226"


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    """A password-protected primary and replica (db 2 in use) behind one Sentinel."""
    running = SentinelGroup(sentinels=1, password=PASSWORD, db=DB)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def operator_env(group: SentinelGroup, **extra: str) -> dict[str, str]:
    """What an operator sets: the Sentinels, the name, a host-less URL with password and db."""
    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update({
        "PINRELAY_REDIS_SENTINELS": group.addresses,
        "PINRELAY_REDIS_SENTINEL_MASTER": MASTER_NAME,
        "PINRELAY_REDIS_URL": f"redis://:{PASSWORD}@/{DB}",
        "PINRELAY_KEY_PREFIX": f"t{tag}:",
        "PINRELAY_QUEUE": f"pinrelay-t{tag}",
        **extra,
    })
    return env


def ha_settings(group: SentinelGroup) -> Settings:
    """Isolated test settings (own prefix and queue) on the group, as the Sentinel settings."""
    fields = group.settings()
    return isolated_settings(fields.pop("redis_url"), **fields)


def pinrelay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_send_and_status_reach_the_primary_the_sentinel_names(group: SentinelGroup) -> None:
    """`pinrelay send` stores the record and its task on the primary, in the URL's db, with the
    URL's password; `pinrelay status` reads it back. No address of a Redis was given."""
    env = operator_env(group)
    sent = pinrelay(env, "send", TO, "--pin", "4321")
    assert sent.returncode == 0, sent.stderr
    rid = json.loads(sent.stdout)["id"]
    primary = group.primary.client(db=DB)
    try:
        prefix, queue = env["PINRELAY_KEY_PREFIX"], env["PINRELAY_QUEUE"]
        assert primary.hget(f"{prefix}req:{rid}", "state") == b"queued"
        assert primary.llen(queue) == 1  # the task, in the same round trip (a Redis broker)
        shown = pinrelay(env, "status", rid)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["state"] == "queued"
        primary.delete(f"{prefix}req:{rid}", queue)
    finally:
        primary.close()


def test_a_wrong_password_is_one_line_not_a_traceback(group: SentinelGroup) -> None:
    """The password in the URL is the primary's: a wrong one is refused by the primary (the
    Sentinel still answered), in one line."""
    env = operator_env(group, PINRELAY_REDIS_URL=f"redis://:wrong@/{DB}")
    result = pinrelay(env, "status", "some-id")
    assert result.returncode == 1
    assert "invalid username-password pair" in result.stderr and "Traceback" not in result.stderr


def test_half_a_sentinel_configuration_is_refused_by_name(group: SentinelGroup) -> None:
    env = operator_env(group)
    del env["PINRELAY_REDIS_SENTINEL_MASTER"]
    result = pinrelay(env, "status", "some-id")
    assert result.returncode == 2
    assert "PINRELAY_REDIS_SENTINELS and PINRELAY_REDIS_SENTINEL_MASTER go together" in result.stderr


def test_the_broker_goes_through_the_sentinel_too(group: SentinelGroup) -> None:
    """kombu's Sentinel transport (ours, one client per channel) publishes and consumes on the
    primary the Sentinel names, in the same db."""
    settings = ha_settings(group)
    app = create_app(settings)
    try:
        with app.connection_for_write() as conn:
            assert conn.as_uri().startswith("sentinel://")
            queue = conn.SimpleQueue(settings.queue + "-probe")
            queue.put({"probe": 1})
            primary = group.primary.client(db=DB)
            try:
                assert primary.llen(settings.queue + "-probe") == 1
            finally:
                primary.close()
            message = queue.get(timeout=5)
            assert message.payload == {"probe": 1}
            message.ack()
            queue.close()
    finally:
        app.close()


def test_a_worker_claim_waits_until_the_replica_has_it(group: SentinelGroup) -> None:
    """With Sentinel the worker's store pipelines WAIT after the claim: the claim is on the
    replica before the provider could be called."""
    settings = ha_settings(group).replace(redis_claim_wait_ms=5000)  # a loaded CI box is slow
    client = redis_client(settings.redis_url or "")
    store = store_for(client, settings)
    assert isinstance(store, ReplicatedClaimStore)
    rid = "wait-probe-1"
    argv = store.new_record(rid, to=TO, pin="1234", client_ref=None, params=None,
                            expires_at=time.time() + 60)
    store.create(rid, None, argv)
    client.script_flush()  # as on a freshly promoted replica: the claim must reload its script
    assert store.claim(rid, lease_s=10).verdict == "ok"
    assert store.claim_wait.last_replicas == 1
    replica = group.replica.client(db=DB)
    try:
        assert replica.hget(store.key(rid), "state") == b"sending"  # no polling: WAIT said so
    finally:
        replica.close()
        client.delete(store.key(rid), store.pin_key(rid), store.pending_key)
        client.close()


def test_without_a_replica_the_claim_goes_ahead_after_the_wait_and_stops_waiting() -> None:
    """A replica that does not answer costs one wait (the send goes ahead, `claim_not_replicated`
    is logged); the next claims do not wait at all for a while."""
    primary = RedisNode("primary").start()
    replica = RedisNode("replica", ["--replicaof", "127.0.0.1", str(primary.port)]).start()
    client = redis_client(primary.url)
    try:
        wait_for(lambda: client.info("replication").get("slave0", {}).get("state") == "online", 10,
                 "the replica to sync")
        patient = ReplicatedClaimStore(client, prefix="w:", ttl_s=60, wait_ms=5000)
        for rid in ("a", "b", "c"):
            argv = patient.new_record(rid, to=TO, pin="1", client_ref=None, params=None,
                                      expires_at=time.time() + 60)
            patient.create(rid, None, argv)
        assert patient.claim("a").verdict == "ok" and patient.claim_wait.last_replicas == 1
        replica.kill()
        store = ReplicatedClaimStore(client, prefix="w:", ttl_s=60, wait_ms=300)
        started = time.monotonic()
        assert store.claim("b").verdict == "ok"  # went ahead...
        assert time.monotonic() - started >= 0.29 and store.claim_wait.last_replicas == 0  # ...after the wait
        assert store.claim("c").verdict == "ok"
        assert store.claim_wait.last_replicas is None  # not waited for: skipped for SKIP_AFTER_TIMEOUT_S
    finally:
        client.close()
        replica.stop()
        primary.stop()
