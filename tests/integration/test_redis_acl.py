"""ops/redis-users.acl: one Redis user per role, each with only what it needs (issue 10, finding 9).

A real ``redis-server`` loads the shipped file, rendered as docker-compose.yml renders it
(``#{VAR}`` -> ``#`` + SHA-256 of the password). The receiver may append receipts but cannot
read a record, a PIN or flush anything; the producer cannot read PINs or forge receipts; nobody
gets in without a user. Then the whole send path runs as it would in compose (worker and
correlator as ``worker``, the receiver as ``receiver``, this test as ``producer``) and Redis
must have refused nothing on the way.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pinrelay_ops.simulator import SimConfig, Simulator
from tests.support.live import stop_stack
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.local.embedded import find_redis_server, free_port
from worker.local.supervisor import Stack
from worker.worker_app import create_app

ROOT = Path(__file__).resolve().parents[2]
ACL = ROOT / "ops" / "redis-users.acl"
ROLES = ("worker", "receiver", "producer")
# Refusals a role is expected to get: the worker's start-up durability check reads CONFIG
# and carries on without it (managed Redis services refuse CONFIG too).
EXPECTED_REFUSALS = {("worker", "command", "config|get")}


def render_acl(text: str, passwords: dict[str, str]) -> str:
    """What docker-compose.yml's redis command does with sed and sha256sum."""

    def digest(match: re.Match[str]) -> str:
        return "#" + hashlib.sha256(passwords[match.group(1)].encode()).hexdigest()

    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return re.sub(r"#\{(PINRELAY_REDIS_[A-Z]+_PASSWORD)\}", digest, "\n".join(lines) + "\n")


@dataclass
class AclRedis:
    port: int
    passwords: dict[str, str]

    def url(self, role: str) -> str:
        return f"redis://{role}:{self.passwords[role]}@127.0.0.1:{self.port}/0"

    def client(self, role: str) -> redis.Redis:
        return redis.Redis.from_url(self.url(role), socket_timeout=5)

    def reset_log(self) -> None:
        admin = self.client("admin")
        try:
            admin.acl_log_reset()
        finally:
            admin.close()

    def refusals(self) -> set[tuple[str, str, str]]:
        admin = self.client("admin")
        try:
            return {(e["username"], e["reason"], e["object"]) for e in admin.acl_log(count=1000)}
        finally:
            admin.close()


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclRedis]:
    """redis-server with the rendered ACL file (plus an admin user this test reads ACL LOG as)."""
    tmp = tmp_path_factory.mktemp("acl")
    passwords = {role: f"{role}-pw-{free_port()}" for role in (*ROLES, "admin")}
    env_names = {f"PINRELAY_REDIS_{role.upper()}_PASSWORD": pw for role, pw in passwords.items()}
    rendered = render_acl(ACL.read_text(), env_names)
    users = [line for line in rendered.splitlines() if line.startswith("user ")]
    assert [u.split()[1] for u in users] == ["default", *ROLES]
    assert not [u for u in users if "#{" in u], "a placeholder without a password variable"
    (tmp / "users.acl").write_text(rendered + f"user admin on >{passwords['admin']} ~* &* +@all\n")
    port = free_port()
    server = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                               "--aclfile", str(tmp / "users.acl"), "--save", "", "--appendonly", "no",
                               "--dir", str(tmp), "--logfile", str(tmp / "redis.log")])
    found = AclRedis(port, passwords)

    def answers() -> bool:
        assert server.poll() is None, (tmp / "redis.log").read_text()
        try:
            return bool(found.client("admin").ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, 10, "redis-server with ops/redis-users.acl")
        yield found
    finally:
        server.terminate()
        server.wait(timeout=10)


def _refused(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except redis.exceptions.NoPermissionError:
        return True
    return False


def test_nobody_gets_in_without_a_user(acl_redis: AclRedis) -> None:
    once = Retry(NoBackoff(), 0)  # an authentication error is not worth redis-py's retries
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl_redis.port, socket_timeout=5, retry=once).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=acl_redis.port, username="worker", password="guess", retry=once).ping()


def test_the_receiver_appends_receipts_and_nothing_else(acl_redis: AclRedis) -> None:
    admin, receiver = acl_redis.client("admin"), acl_redis.client("receiver")
    admin.hset("pinrelay:req:r1", mapping={"state": "submitted", "to": "16365553226"})
    admin.set("pinrelay:pin:r1", "482913")
    assert receiver.xadd("pinrelay:receipts", {"messageId": "X1", "status": "delivered"})
    assert _refused(lambda: receiver.hgetall("pinrelay:req:r1"))
    assert _refused(lambda: receiver.get("pinrelay:pin:r1"))
    assert _refused(lambda: receiver.hset("pinrelay:req:r1", "state", "failed"))
    assert _refused(lambda: receiver.xrange("pinrelay:receipts"))
    assert _refused(lambda: receiver.lpush("pinrelay", "task"))
    for dangerous in (receiver.flushall, receiver.flushdb, lambda: receiver.keys("*"),
                      lambda: receiver.config_get("*"), lambda: receiver.config_set("save", "")):
        assert _refused(dangerous)
    assert admin.hget("pinrelay:req:r1", "state") == b"submitted"


def test_the_producer_cannot_read_pins_or_forge_receipts(acl_redis: AclRedis) -> None:
    admin, producer = acl_redis.client("admin"), acl_redis.client("producer")
    admin.set("pinrelay:pin:p1", "482913")
    assert producer.set("pinrelay:pin:p2", "111111")  # it stores PINs ...
    assert _refused(lambda: producer.get("pinrelay:pin:p1"))  # ... and never reads one back
    assert _refused(lambda: producer.xadd("pinrelay:receipts", {"messageId": "X2", "status": "delivered"}))
    assert _refused(lambda: producer.zrange("pinrelay:dead:sends", 0, -1))
    assert _refused(lambda: producer.get("pinrelay:msg:X2"))
    assert _refused(producer.flushall)
    assert _refused(lambda: producer.keys("*"))


@pytest.mark.timeout(120)
def test_the_full_send_path_runs_with_the_role_users(acl_redis: AclRedis, tmp_path: Path) -> None:
    """Worker + correlator as `worker`, receiver as `receiver`, enqueue as `producer`: a PIN is
    sent, its receipt settles it, its conversion is reported, and Redis refused nothing."""
    base = Settings.from_env({}).replace(redis_url=acl_redis.url("producer"), runtime_dir=str(tmp_path),
                   backoff_initial_s=0.05, backoff_max_s=0.3, connect_timeout_s=1.0, read_timeout_s=1.5,
                   retry_deadline_s=20.0, visibility_timeout_s=60, rate_limit_per_s=20.0,
                   per_number_10min=5, worker_concurrency=1)
    acl_redis.reset_log()  # the refusals the tests above provoked on purpose
    with Simulator(SimConfig(dlr_delay_s=0.05, dlr_mix={"delivered": 100.0})) as sim:
        settings = base.replace(api_url=sim.url, conversion_url=sim.url)
        stack = Stack(settings, log_dir=tmp_path / "logs")
        try:
            _send_path(stack, settings, acl_redis, sim)
        except Exception as exc:  # say what Redis refused: that is nearly always why
            raise AssertionError(f"{exc!r}; Redis refused {acl_redis.refusals()}") from exc
        finally:
            stop_stack(stack)
    assert acl_redis.refusals() - EXPECTED_REFUSALS == set()


def _send_path(stack: Stack, settings: Settings, acl_redis: AclRedis, sim: Simulator) -> None:
    """Start the processes under their roles; one PIN through to its receipt and conversion."""
    stack.ensure_redis()
    stack.env_overrides = {"PINRELAY_REDIS_URL": acl_redis.url("receiver")}
    stack.start_webhook()
    sim.configure(dlr_url=f"{stack.webhook_url}/delivery-receipt-webhook")
    stack.env_overrides = {"PINRELAY_REDIS_URL": acl_redis.url("worker")}
    stack.start_correlator()
    stack.start_worker(name="worker0")
    stack.start_worker(name="callbacks", concurrency=1, callbacks=True)  # the conversion report's
    stack.wait_workers(create_app(settings.replace(redis_url=acl_redis.url("worker"))), count=2)
    producer = Producer(settings, create_app(settings))
    try:
        rid = producer.send_pin("16365553226", "482913", "acl-check", idempotency_key="acl-1")
        assert producer.send_pin("16365553226", "482913", "acl-check", idempotency_key="acl-1") == rid
        record = producer.wait(rid, 30, until={"delivered"})
        assert record["state"] == "delivered" and record["message_id"]
        producer.report_conversion(rid, delivered=True)
        wait_for(lambda: producer.get_status(rid).get("conversion_status") == "reported", 20,
                 "the conversion report")
    finally:
        producer.close()


def test_bulk_enqueue_runs_as_the_producer(acl_redis: AclRedis) -> None:
    """send_pins over several chunks with the limits on (a check call per chunk, then the
    chunks streamed by SHA), and a repeat, as `producer`: Redis refuses nothing."""
    from worker.enqueue.producer import PinSpec

    settings = Settings.from_env({}).replace(redis_url=acl_redis.url("producer"), per_number_10min=5,
                       per_number_day=50, per_prefix_minute=100_000)
    acl_redis.reset_log()
    producer = Producer(settings, create_app(settings))
    admin = acl_redis.client("admin")
    try:
        specs = [PinSpec(f"1636555{i:04d}", "4829", idempotency_key=f"acl-bulk-{i}") for i in range(450)]
        ids = producer.send_pins(specs)
        assert len(set(ids)) == 450 and admin.llen("pinrelay") == 450
        assert producer.send_pins(specs[:3]) == ids[:3]  # one chunk: limits and records in one step
        assert producer.send_pin(specs[5].to, "4829", idempotency_key="acl-bulk-5") == ids[5]
    finally:
        producer.close()
        admin.flushdb()  # nothing of this is for the workers of another test
        admin.close()
    assert acl_redis.refusals() == set()
