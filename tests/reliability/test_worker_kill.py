"""kill -9 of workers in the middle of a batch: nothing lost, no PIN accepted twice.

Two ways a worker dies:

* one prefork pool process is SIGKILLed (the OOM killer's way): Celery sees the
  worker lost and, with ``reject_on_worker_lost``, puts its task back at once;
* the whole worker (main process and pool) is SIGKILLed: its unacknowledged tasks
  are redelivered by another worker after the visibility timeout.

Either way a redelivered task that finds its send in ``sending`` (the worker died
during the provider call) marks it ``unconfirmed`` and never calls again: the one
documented window. Receipts flow (simulator -> receiver -> correlator), so a send
whose PIN did go out ends in its receipt's final state even from ``unconfirmed``.
"""

from __future__ import annotations

import time

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import StartLive
from worker.records.store import new_request_id

from .figures import Figures
from .harness import (
    SETTLED,
    describe,
    enqueue_batch,
    kill_pool_child,
    kill_worker,
    outcome,
    wait_until,
    wait_until_done,
)

BATCH = 600
TO = "16365553226"
# Small enough for a test, and checked by check_schedule_fits at start (6.5 s worst case < 10 s).
KILL_SETTINGS = {"visibility_timeout_s": 10, "retry_deadline_s": 4, "max_attempts": 3}
# Where nothing is killed mid-call the timeout only sets when a lost task is republished
# (visibility timeout + LOST_TASK_GRACE_S, checked every LOST_TASK_SWEEP_S): as short as
# check_schedule_fits allows (4.5 s worst case < 5 s).
LOST_SETTINGS = {"visibility_timeout_s": 5, "retry_deadline_s": 2, "max_attempts": 2}
# Every receipt final (the default mix leaves 1% at `accepted`, where US short codes may stop).
FINAL_MIX = {"delivered": 95.0, "failed": 2.0, "expired": 1.0, "rejected": 1.0, "unknown": 1.0}

pytestmark = pytest.mark.slow


def _wait_calls(sim: Simulator, count: int) -> None:
    """Until the provider has seen ``count`` calls: kills land mid-batch, at a known point."""
    wait_until(lambda: len(sim.requests()) >= count, 60, f"{count} provider calls")


@pytest.mark.timeout(120)
def test_killed_pool_processes_lose_nothing_and_send_nothing_twice(
    redis_url: str, sim: Simulator, live_stacks: StartLive, figures: Figures
) -> None:
    """Four pool processes SIGKILLed mid-batch: every send settles, none accepted twice."""
    sim.configure(latency_ms=40, dlr_mix=FINAL_MIX)  # pool processes spend most time in the call
    live = live_stacks(redis_url, sim, workers=2, receiver=True, **KILL_SETTINGS)
    workers = [live.stack.processes["worker0"], live.stack.processes["worker1"]]
    started = time.monotonic()
    ids = enqueue_batch(live.producer, BATCH)
    kills = 0
    for step, at_calls in enumerate((100, 200, 300, 400)):
        _wait_calls(sim, at_calls)
        kill_pool_child(workers[step % 2], index=step)
        kills += 1
    result = outcome(live.producer.store, sim, ids, SETTLED, timeout=60)
    elapsed = time.monotonic() - started

    figures.add(
        "pool process SIGKILL", f"kill -9 of {kills} prefork children at 100/200/300/400 calls, "
        "2 workers x 2 processes", sent=BATCH, lost=len(result.lost),
        duplicated=len(result.duplicated),
        measured=f"{len(result.in_window)} in the window ({len(result.unconfirmed)} still unconfirmed "
        f"after receipts); batch settled in {elapsed:.1f}s",
    )
    assert result.lost == [], describe(result, sim, live)
    assert result.duplicated == {}
    assert len(result.in_window) <= kills  # a pool process runs one task at a time
    assert all(w.alive for w in workers)  # the workers replaced their pool processes


@pytest.mark.timeout(150)
def test_killed_workers_tasks_are_redelivered_and_nothing_is_sent_twice(
    redis_url: str, sim: Simulator, live_stacks: StartLive, figures: Figures
) -> None:
    """Two whole workers SIGKILLed mid-batch: their tasks come back after the visibility
    timeout, every send settles, none accepted twice."""
    # A fast provider keeps the workers fetching: a kill then often lands between kombu's BRPOP
    # and its write to `unacked` (the loss that the test below pins down deterministically).
    sim.configure(latency_ms=15, dlr_mix=FINAL_MIX)
    live = live_stacks(redis_url, sim, workers=2, receiver=True, **KILL_SETTINGS)
    started = time.monotonic()
    ids = enqueue_batch(live.producer, BATCH)
    kills = 0
    for step, at_calls in enumerate((150, 350)):
        _wait_calls(sim, at_calls)
        kill_worker(live.stack.processes[f"worker{step}"])
        kills += 1
        live.stack.start_worker(name=f"worker{step + 2}")  # the orchestrator's replacement
    killed_at = time.monotonic()
    result = outcome(live.producer.store, sim, ids, SETTLED, timeout=90)
    elapsed = time.monotonic() - started

    figures.add(
        "worker SIGKILL", f"kill -9 of {kills} whole workers (main + pool) at 150/350 calls, "
        "replacement started; visibility timeout 10 s", sent=BATCH, lost=len(result.lost),
        duplicated=len(result.duplicated),
        measured=f"{len(result.in_window)} in the window ({len(result.unconfirmed)} still unconfirmed "
        f"after receipts); settled {time.monotonic() - killed_at:.1f}s after the last kill, "
        f"batch {elapsed:.1f}s",
    )
    assert result.lost == [], describe(result, sim, live)
    assert result.duplicated == {}
    # Each killed worker held at most concurrency (2) sends in the provider call.
    assert len(result.in_window) <= 2 * kills


@pytest.mark.timeout(90)
def test_send_whose_task_message_the_broker_lost_is_still_sent(
    redis_url: str, sim: Simulator, live_stacks: StartLive
) -> None:
    """A queued send whose task message is gone (popped by a worker SIGKILLed before it
    recorded it as unacked) is still sent once, within the visibility timeout and a sweep."""
    live = live_stacks(redis_url, sim, workers=1, receiver=True, **LOST_SETTINGS)
    store = live.producer.store
    rid = new_request_id()
    # What the producer stores; the task message kombu's BRPOP removed never reaches `unacked`.
    store.create(rid, None, store.new_record(rid, to=TO, pin="246810", client_ref=None, params=None,
                                             expires_at=time.time() + 120))
    within = LOST_SETTINGS["visibility_timeout_s"] + 30
    found = wait_until_done(store, [rid], SETTLED | {"submitted"}, timeout=within)
    assert found[rid]["state"] != "queued", "the send is stuck in queued: nothing will ever send it"
    assert sim.accepted_count(TO, "246810", rid) == 1


@pytest.mark.timeout(90)
def test_other_deployment_on_the_same_redis_does_not_redeliver_our_tasks(
    redis_url: str, sim: Simulator, live_stacks: StartLive
) -> None:
    """Two deployments share a Redis (own key prefixes and queues, as the README allows); the
    one with the short visibility timeout must not hand the other's in-flight task back to
    its queue (that turns a healthy send into a dead letter mid-call)."""
    short = live_stacks(redis_url, sim, workers=1, visibility_timeout_s=3, max_attempts=1,
                        connect_timeout_s=0.5, read_timeout_s=1.0)
    ours = live_stacks(redis_url, sim, workers=1, visibility_timeout_s=60, max_attempts=1,
                       read_timeout_s=12.0)
    sim.configure(script=("hang:10",))  # our provider call takes 10 s, well inside our timeouts
    rid = ours.producer.send_pin(TO, "975310")
    record = ours.producer.wait(rid, 30, until={"submitted", "error"})
    dead = ours.producer.redis.zscore(f"{ours.settings.key_prefix}dead:sends", rid)
    assert record["state"] == "submitted"
    assert dead is None, "our in-flight send was redelivered and marked unconfirmed meanwhile"
    assert short.stack.processes["worker0"].alive
