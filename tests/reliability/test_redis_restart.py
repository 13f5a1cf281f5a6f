"""Redis stopped and started again under load (AOF on, fsync always): nothing is lost.

The whole stack (two workers, the receiver, the correlator) keeps running through
the outage; only Redis goes away, gracefully (SIGTERM) or as a crash (SIGKILL),
and comes back on the same port with the same data directory. A producer sends
PINs one by one throughout; a send refused at enqueue (the caller got an
exception) is not lost, it was never accepted. Every accepted send must settle,
and no PIN may be accepted twice by the provider.
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
from tests.support.settings import isolated_settings
from worker.enqueue.producer import Producer
from worker.errors import PinrelayError, StoreUnavailableError
from worker.local.embedded import EmbeddedRedis, free_port
from worker.worker_app import create_app

from .figures import Figures
from .harness import SETTLED, describe, numbers, outcome, pin_for, wait_until

OUTAGE_S = 3.0  # how long Redis stays down
BEFORE, AFTER = 100, 100  # sends accepted before the outage and after Redis is back
SEND_INTERVAL_S = 0.02  # the producer's pace: ~50 sends/s
FINAL_MIX = {"delivered": 95.0, "failed": 2.0, "expired": 1.0, "rejected": 1.0, "unknown": 1.0}
TO = "16365553226"
RESTART_SETTINGS = {"visibility_timeout_s": 10, "retry_deadline_s": 4, "max_attempts": 3}


class RestartableRedis:
    """An AOF Redis (fsync always) that can be stopped and brought back on the same port/data."""

    def __init__(self) -> None:
        self.server = EmbeddedRedis(appendonly=True, appendfsync="always").start()
        self.port, self.data_dir = self.server.port, self.server.data_dir

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self, how: str) -> None:
        if how == "sigkill":
            self.server.kill()
        else:
            self.server.stop(remove_data=False)

    def start_again(self) -> None:
        self.server = EmbeddedRedis(
            port=self.port, data_dir=self.data_dir, appendonly=True, appendfsync="always"
        ).start()

    def close(self) -> None:
        self.server.stop(remove_data=True)


@pytest.fixture
def aof_redis() -> Iterator[RestartableRedis]:
    """Requested before ``live_stacks``, so the stack is stopped before this Redis goes."""
    server = RestartableRedis()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Load:
    """A producer thread sending PINs one by one until stopped; what it was told for each."""

    live: LiveStack
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the caller got an exception
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            to, pin = numbers(1, 2000 + i)[0], pin_for(2000 + i)
            try:
                self.accepted.append(self.live.producer.send_pin(to, pin))
            except PinrelayError as exc:
                self.refused.append(type(exc).__name__)
            except Exception as exc:  # a raw redis/kombu error leaking out: counted apart
                self.refused.append(f"raw {type(exc).__module__}.{type(exc).__name__}")
            i += 1
            self.stop.wait(SEND_INTERVAL_S)


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_redis_restart_under_load_loses_nothing(
    aof_redis: RestartableRedis, sim: Simulator, live_stacks: StartLive, figures: Figures, how: str
) -> None:
    """Redis stopped mid-batch for 3 s and restarted: workers, receiver and correlator carry on
    without a restart, every accepted send settles, none is accepted twice."""
    sim.configure(latency_ms=5, dlr_mix=FINAL_MIX)
    live = live_stacks(aof_redis.url, sim, workers=2, receiver=True, **RESTART_SETTINGS)
    pids = {name: proc.process.pid for name, proc in live.stack.processes.items() if proc.process}
    load = Load(live)
    thread = threading.Thread(target=load.run, name="producer", daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(load.accepted) >= BEFORE, 30, f"{BEFORE} sends enqueued")
        aof_redis.stop(how)
        load.stop.wait(OUTAGE_S)  # the fault: Redis stays down this long
        calls_before, accepted_before = len(sim.requests()), len(load.accepted)
        aof_redis.start_again()
        back_at = time.monotonic()
        wait_until(lambda: len(sim.requests()) > calls_before, 30,
                   f"a provider call after the restart (refused at enqueue: {Counter(load.refused)})")
        recovered_s = time.monotonic() - back_at
        wait_until(lambda: len(load.accepted) >= accepted_before + AFTER, 30, f"{AFTER} more sends")
    finally:
        load.stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    result = outcome(live.producer.store, sim, load.accepted, SETTLED, timeout=60)

    leaked = [r for r in load.refused if r.startswith("raw ")]
    survivors = [name for name, proc in live.stack.processes.items()
                 if proc.alive and proc.process is not None and proc.process.pid == pids[name]]
    figures.add(
        f"Redis restart ({how})", f"Redis {how.upper()} after {BEFORE} one-by-one sends (~50/s), "
        f"down {OUTAGE_S:.0f} s, restarted on the same AOF (appendfsync always), {AFTER} more "
        "sends; 2 workers, receiver, correlator", sent=len(load.accepted),
        lost=len(result.lost), duplicated=len(result.duplicated),
        measured=f"first provider call {recovered_s:.1f}s after Redis was back; {len(load.refused)} "
        f"refused at enqueue ({len(leaked)} as raw redis/kombu errors); {len(result.in_window)} "
        f"in the window; still running without a restart: {', '.join(sorted(survivors))}",
    )
    assert result.lost == [], describe(result, sim, live)
    assert result.duplicated == {}
    for name, proc in live.stack.processes.items():  # recovered without a restart
        assert proc.alive and proc.process is not None and proc.process.pid == pids[name], name


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_worker_survives_a_redis_restart_while_it_holds_a_task(
    aof_redis: RestartableRedis, sim: Simulator, live_stacks: StartLive
) -> None:
    """A worker whose task is in the provider call when Redis restarts keeps running (no
    process restart) and sends the next PIN."""
    sim.configure(script=("hang:2",))
    live = live_stacks(aof_redis.url, sim, workers=1, **RESTART_SETTINGS)
    worker = live.stack.processes["worker0"]
    held = live.producer.send_pin(TO, "102030")
    wait_until(lambda: live.producer.get_status(held)["state"] == "sending", 10, "the call to start")
    # kombu holds the task until it is acked
    assert live.producer.redis.hlen(f"{live.settings.key_prefix}unacked") >= 1
    aof_redis.stop("sigterm")
    time.sleep(0.5)  # the fault: Redis stays down this long
    aof_redis.start_again()
    after = wait_until(lambda: _try_send(live), 20, "an enqueue after the restart")
    assert wait_until(lambda: not worker.alive or live.producer.get_status(after)["state"] != "queued",
                      20, "the worker to take the next send")
    assert worker.alive, f"the worker exited; see {worker.log_path}"
    assert live.producer.wait(after, 20, until={"submitted", "error"})["state"] == "submitted"
    assert live.producer.wait(held, 30)["state"] in {"submitted", "unconfirmed"}


def _try_send(live: LiveStack) -> str | None:
    try:
        return live.producer.send_pin(TO, "405060")
    except Exception:  # still reconnecting
        return None


def test_enqueue_while_redis_is_down_raises_store_unavailable() -> None:
    """With Redis unreachable, send_pin raises StoreUnavailableError (the documented 'Redis
    did not answer'), not a raw redis-py exception."""
    settings = isolated_settings(f"redis://127.0.0.1:{free_port()}/0")
    producer = Producer(settings, create_app(settings))
    try:
        with pytest.raises(StoreUnavailableError):
            producer.send_pin(TO, "1234")
    finally:
        producer.close()
