"""Redis goes away right after the provider accepted a send (issue 10, finding 6).

The worker knows the message-id, but the write that records it fails. Before the fix the
task asked Celery for a rerun (which fails too: the broker is the same Redis), the task was
dropped, and much later the sweep marked the send ``unconfirmed`` with "worker stopped
during the provider call": an accepted PIN an operator would then replay, texting the user
twice. Now the write is retried inside the task until the claim lease runs out, and what
is still not written by then waits in the worker's spool until Redis answers again.

Redis here is a real ``redis-server`` (AOF, fsync always) SIGKILLed while the simulator holds
the 2FA answer back, and restarted on the same port and data: a crash and recovery, not a
mock. The simulator's ledger says what the provider accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, StartLive

from .harness import wait_until
from .test_redis_restart import RestartableRedis

TO = "16365553226"
LATENCY_MS = 800  # the 2FA answer is held back this long: Redis is killed meanwhile
# lease = connect + read + 5 s margin = 7.5 s; visibility timeout above the retry schedule
BLIP_SETTINGS = {"visibility_timeout_s": 10, "retry_deadline_s": 4, "max_attempts": 3,
                 "connect_timeout_s": 1.0, "read_timeout_s": 1.5}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture
def aof_redis() -> Iterator[RestartableRedis]:
    """Requested before ``live_stacks``, so the stack is stopped before this Redis goes."""
    server = RestartableRedis()
    try:
        yield server
    finally:
        server.close()


def _kill_redis_during_the_call(live: LiveStack, sim: Simulator, aof_redis: RestartableRedis) -> str:
    """Send one PIN; SIGKILL Redis once the provider has the request and before it answers;
    return the request id once the provider has accepted it."""
    sim.configure(latency_ms=LATENCY_MS)
    rid = live.producer.send_pin(TO, "481516")
    wait_until(lambda: len(sim.requests()) == 1, 15, "the provider call to arrive")
    aof_redis.stop("sigkill")
    wait_until(lambda: sim.requests()[0]["accepted"], 10, "the provider to accept the send")
    return rid


def _events(live: LiveStack, name: str) -> list[dict[str, object]]:
    lines = live.worker_log().splitlines()
    return [e for e in (json.loads(line) for line in lines if line.startswith("{")) if e.get("event") == name]


def _assert_submitted_once(live: LiveStack, sim: Simulator, rid: str) -> dict[str, object]:
    """Ends `submitted` (a redelivered task may mark it `unconfirmed` for a moment first, when
    kombu restores it just before the spool's next try: the acceptance then settles it)."""
    try:
        record = live.wait_state(rid, {"submitted"}, timeout=40)
    except AssertionError:
        record = live.record(rid) or {}
    calls = sim.requests()
    assert len(calls) == 1, calls
    assert record["state"] == "submitted", record
    assert record["message_id"] == calls[0]["message_id"]
    assert not record["error_text"]
    return record


def test_acceptance_write_is_retried_through_a_short_redis_outage(
    aof_redis: RestartableRedis, sim: Simulator, live_stacks: StartLive, tmp_path: Path
) -> None:
    """Redis down ~2.5 s right after acceptance (shorter than the claim lease): the task keeps
    retrying the write, and the record ends `submitted` with the provider's message-id."""
    live = live_stacks(aof_redis.url, sim, workers=1, runtime_dir=str(tmp_path / "rt"), **BLIP_SETTINGS)
    rid = _kill_redis_during_the_call(live, sim, aof_redis)
    wait_until(lambda: _events(live, "acceptance_write_failed") or _events(live, "send_store_unavailable"),
               10, "the worker to see the write fail")
    aof_redis.start_again()
    _assert_submitted_once(live, sim, rid)
    wait_until(lambda: _events(live, "acceptance_recorded_late"), 10, "the late write to be logged")


def test_acceptance_outliving_the_lease_is_recorded_from_the_spool(
    aof_redis: RestartableRedis, sim: Simulator, live_stacks: StartLive, tmp_path: Path
) -> None:
    """Redis down longer than the claim lease: the task gives up writing and leaves the
    acceptance in the worker's spool; when Redis is back the spool records it (`submitted`,
    the right message-id), and the redelivered task finds the send decided."""
    runtime = tmp_path / "rt"
    live = live_stacks(aof_redis.url, sim, workers=1, runtime_dir=str(runtime), **BLIP_SETTINGS)
    rid = _kill_redis_during_the_call(live, sim, aof_redis)
    spooled = wait_until(lambda: _events(live, "acceptance_spooled"), 20, "the hand-over to the spool")
    assert spooled[0]["request_id"] == rid
    assert [p for p in runtime.rglob("*.spool") if p.stat().st_size > 0], "nothing on disk"
    aof_redis.start_again()
    _assert_submitted_once(live, sim, rid)
    wait_until(lambda: _events(live, "acceptance_recorded_from_spool"), 10, "the spool replay")
    wait_until(lambda: not list(runtime.rglob("*.spool")), 10, "the spool file to go")
