"""Redis Sentinel failover under load: the primary is SIGKILLed mid-batch, the Sentinels promote
the replica, and the whole stack follows it without a restart.

A primary, one replica and three Sentinels (quorum 2, down-after 1 s) run on loopback; two
Celery workers, the receiver and the correlator are pointed at them only through
``PINRELAY_REDIS_SENTINELS`` / ``PINRELAY_REDIS_SENTINEL_MASTER`` (no process is told an
address of a Redis). A producer sends PINs one by one until 500 were accepted; halfway the
primary is killed. A send refused at enqueue (the caller got an exception) was never
accepted and is not lost. Every accepted send must settle, none may be accepted twice by
the provider, and every pinrelay process must still be the one that was started.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, StartLive
from tests.support.redis_ha import DOWN_AFTER_MS, SentinelGroup
from worker.errors import PinrelayError

from .figures import Figures
from .harness import SETTLED, describe, numbers, outcome, pin_for, wait_until

TOTAL, KILL_AT = 500, 250  # sends accepted in all; the primary dies once this many were
SEND_INTERVAL_S = 0.01  # the producer's pace, at most ~100 sends/s
FINAL_MIX = {"delivered": 95.0, "failed": 2.0, "expired": 1.0, "rejected": 1.0, "unknown": 1.0}
# A task held by a worker when the primary dies is redelivered after the visibility timeout:
# short, so the in-window sends settle within the test (the schedule check still passes).
# The claim's WAIT keeps its default bound (100 ms): after the failover the new primary has no
# replica, and each worker process's first claim there waits that long in vain (a 1 s bound
# delayed the first call by ~1.8 s, measured).
FAILOVER_SETTINGS = {"visibility_timeout_s": 10, "retry_deadline_s": 4, "max_attempts": 3}
CLAIM_TO_CALL_S = 0.5  # a provider call arrives this soon after its claim, at most


@pytest.fixture
def sentinel_group() -> Iterator[SentinelGroup]:
    """Requested before ``live_stacks``, so the stack is stopped before these servers go."""
    group = SentinelGroup()
    try:
        group.wait_ready()
        yield group
    finally:
        group.stop()


@dataclass
class Load:
    """A producer thread sending PINs one by one until ``target`` were accepted (or stopped)."""

    live: LiveStack
    target: int
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the caller got an exception
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set() and len(self.accepted) < self.target:
            to, pin = numbers(1, 5000 + i)[0], pin_for(5000 + i)
            try:
                self.accepted.append(self.live.producer.send_pin(to, pin))
            except PinrelayError as exc:
                self.refused.append(type(exc).__name__)
            except Exception as exc:  # a raw redis/kombu error leaking out: counted apart
                self.refused.append(f"raw {type(exc).__module__}.{type(exc).__name__}")
            i += 1
            self.stop.wait(SEND_INTERVAL_S)


def first_call_after(sim: Simulator, moment: float) -> float | None:
    """Arrival (unix time) of the first provider call after ``moment``."""
    times = [float(r["arrived"]) for r in sim.requests() if float(r["arrived"]) > moment]
    return min(times) if times else None


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_primary_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    sentinel_group: SentinelGroup, sim: Simulator, live_stacks: StartLive, figures: Figures
) -> None:
    """SIGKILL of the primary after 250 of 500 sends: the replica is promoted, every pinrelay
    process carries on against it, every accepted send settles, none is accepted twice."""
    sim.configure(latency_ms=40, dlr_mix=FINAL_MIX)  # 40 ms: some sends are in the call at the kill
    ha = sentinel_group.settings()
    live = live_stacks(ha.pop("redis_url"), sim, workers=2, receiver=True, **ha, **FAILOVER_SETTINGS)
    assert live.settings.redis_url and live.settings.redis_url.startswith("redis+sentinel://")
    pids = {name: proc.process.pid for name, proc in live.stack.processes.items() if proc.process}
    load = Load(live, TOTAL)
    thread = threading.Thread(target=load.run, name="producer", daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(load.accepted) >= KILL_AT, 60, f"{KILL_AT} sends enqueued")
        killed_at, killed_mono = time.time(), time.monotonic()
        sentinel_group.kill_primary()  # the fault
        before_kill = len(load.accepted)
        sentinel_group.wait_promoted(30)
        promoted_s = time.monotonic() - killed_mono
        wait_until(lambda: len(load.accepted) >= TOTAL, 90, f"{TOTAL} sends accepted")
        # A call is made within milliseconds of its claim: one arriving later than this after
        # the kill was claimed on the new primary.
        claimed_after = killed_at + CLAIM_TO_CALL_S
        first = wait_until(lambda: first_call_after(sim, claimed_after), 30, "a call after the kill")
        recovered_s = first - killed_at
    finally:
        load.stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    result = outcome(live.producer.store, sim, load.accepted, SETTLED, timeout=90)

    leaked = [r for r in load.refused if r.startswith("raw ")]
    logs = live.worker_log()
    hit, unreplicated = logs.count('"send_store_unavailable"'), logs.count('"claim_not_replicated"')
    survivors = sorted(name for name, proc in live.stack.processes.items()
                       if proc.alive and proc.process and proc.process.pid == pids[name])
    figures.add(
        "Redis Sentinel failover", f"primary SIGKILLed after {before_kill} of {TOTAL} one-by-one "
        f"sends; 1 replica, 3 Sentinels (quorum 2, down-after {DOWN_AFTER_MS} ms); 2 workers, "
        "receiver, correlator", sent=len(load.accepted), lost=len(result.lost),
        duplicated=len(result.duplicated),
        measured=f"replica promoted {promoted_s:.1f}s after the kill; first provider call claimed on "
        f"the new primary {recovered_s:.1f}s after it; {hit} tasks met the dead primary and were retried; "
        f"{unreplicated} claims waited for a replica in vain (after the failover there is none); "
        f"{len(result.unconfirmed)} unconfirmed ({len(result.in_window)} in the window); "
        f"{len(load.refused)} refused at enqueue "
        f"({len(leaked)} as raw redis/kombu errors: {dict(Counter(leaked))}); states "
        f"{dict(result.states)}; still running without a restart: {', '.join(survivors)}",
    )
    assert result.lost == [], describe(result, sim, live)
    assert result.duplicated == {}
    assert leaked == []
    for name, proc in live.stack.processes.items():  # followed the new primary without a restart
        assert proc.alive and proc.process is not None and proc.process.pid == pids[name], name
