"""Safety valves: per-number and per-prefix limits and the denylist at enqueue, PINs that
expire in the queue, and an operator's replay of a dead send.

One worker serves the whole module; each test builds its own Producer with the
limits it needs (limits are checked at enqueue, by the producer).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, Stacks
from tests.support.sim import simulator
from worker.cli.dead import run_dead
from worker.constants import KEY_RECORD
from worker.enqueue.producer import Producer
from worker.errors import AbuseLimitError

from .figures import Figures
from .harness import DONE_WITHOUT_RECEIPTS, numbers, pin_for, wait_until, wait_until_done

TO = "16365553226"


@pytest.fixture(scope="module")
def provider() -> Iterator[Simulator]:
    with simulator() as running:
        yield running


@pytest.fixture(scope="module")
def one_worker(
    redis_url: str, provider: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    stacks = Stacks(tmp_path_factory.mktemp("limits"))
    try:
        yield stacks.start(redis_url, provider, workers=1)
    finally:
        stacks.close()


@pytest.fixture
def fresh(provider: Simulator) -> Simulator:
    provider.reset()
    return provider


def limited(live: LiveStack, per_number_10min: int = 0, per_number_day: int = 0,
            per_prefix_minute: int = 0) -> Producer:
    """A producer on the module's stack with these abuse limits (0 = off)."""
    settings = live.settings.replace(per_number_10min=per_number_10min, per_number_day=per_number_day,
                       per_prefix_minute=per_prefix_minute)
    return Producer(settings, live.app)


def drain(producer: Producer, ids: list[str]) -> None:
    """Wait until these sends are done, so no work leaks into the next test."""
    done = wait_until_done(producer.store, ids, DONE_WITHOUT_RECEIPTS, timeout=20)
    assert {r["state"] for r in done.values()} == {"submitted"}
    producer.close()


def records(live: LiveStack) -> set[bytes]:
    """The keys of every send record on the stack: a refused send must add none."""
    pattern = f"{live.settings.key_prefix}{KEY_RECORD}*"
    return set(live.producer.redis.scan_iter(match=pattern, count=1000))


def refusal(producer: Producer, to: str, pin: str = "1234") -> str:
    """The limit that refused ``to``; fails if the send was accepted."""
    with pytest.raises(AbuseLimitError) as refused:
        producer.send_pin(to, pin)
    return refused.value.limit


def test_per_number_limit_refuses_the_fourth_pin_in_ten_minutes(
    one_worker: LiveStack, fresh: Simulator
) -> None:
    """With 3 per 10 minutes, the 4th PIN to a number is refused before anything is stored."""
    producer = limited(one_worker, per_number_10min=3)
    ids = [producer.send_pin(TO, pin_for(i)) for i in range(3)]
    stored = records(one_worker)
    assert refusal(producer, TO, "999111") == "number_10min"
    assert records(one_worker) == stored  # the live worker may drain the queue: count records
    other = producer.send_pin("16365550042", "4242")  # another number is unaffected
    assert producer.store.stats().get("refused_number_10min") == 1
    drain(producer, [*ids, other])
    assert "999111" not in [c["params"]["pin"] for c in fresh.requests()]


def test_per_number_day_limit_refuses_past_the_daily_count(one_worker: LiveStack) -> None:
    """With 2 per day (and no 10-minute limit), the 3rd PIN to a number is refused."""
    producer = limited(one_worker, per_number_day=2)
    ids = [producer.send_pin("16365550100", "1111"), producer.send_pin("16365550100", "2222")]
    assert refusal(producer, "16365550100") == "number_day"
    drain(producer, ids)


def test_per_prefix_limit_refuses_pumping_a_number_range(one_worker: LiveStack) -> None:
    """With 5 per NPA-NXX per minute, the 6th number in 636-555 is refused, 636-556 is not."""
    producer = limited(one_worker, per_prefix_minute=5)
    ids = [producer.send_pin(to, "1234") for to in numbers(5, 200)]
    assert refusal(producer, "16365550300") == "prefix_minute"
    drain(producer, [*ids, producer.send_pin("16365560300", "1234")])


def test_denylisted_number_and_prefixes_are_refused(one_worker: LiveStack) -> None:
    """A denied number, NPA-NXX or country+NPA is refused even with every limit off."""
    producer = limited(one_worker)
    producer.guard.deny("16365550777", "1636557", "1604")  # 1900 is refused as premium-rate first
    assert refusal(producer, "16365550777") == "denylist"
    assert refusal(producer, "16365570001") == "denylist"
    assert refusal(producer, "16045550100") == "denylist"
    drain(producer, [producer.send_pin("16365550778", "1234")])


def test_limits_hold_under_concurrent_producers(one_worker: LiveStack, figures: Figures) -> None:
    """24 threads racing on one number and 40 on one prefix get exactly the limits through."""
    producer = limited(one_worker, per_number_10min=3, per_prefix_minute=10)
    outcomes: list[str] = []
    ids: list[str] = []
    lock = threading.Lock()

    def send(to: str) -> None:
        try:
            rid = producer.send_pin(to, "1234")
            verdict = "ok"
        except AbuseLimitError as exc:
            rid, verdict = "", exc.limit
        with lock:
            outcomes.append(verdict)
            ids.extend([rid] if rid else [])

    same_number = [threading.Thread(target=send, args=("16365581234",)) for _ in range(24)]
    same_prefix = [threading.Thread(target=send, args=(to,)) for to in [f"1636559{i:04d}" for i in range(40)]]
    for thread in [*same_number, *same_prefix]:
        thread.start()
    for thread in [*same_number, *same_prefix]:
        thread.join(timeout=30)
    accepted = outcomes.count("ok")
    figures.add(
        "SMS pumping", "24 concurrent sends to one number (limit 3/10 min) and 40 to one "
        "NPA-NXX (limit 10/min)", sent=64, lost=0, duplicated=0,
        measured=f"{accepted} accepted (13 allowed), {len(outcomes) - accepted} refused at enqueue",
    )
    # The number's 3 sends also count against its prefix (16365581 != 1636559: separate).
    assert accepted == 3 + 10, outcomes
    drain(producer, ids)


def test_pin_that_expires_in_the_queue_is_never_sent(
    one_worker: LiveStack, fresh: Simulator, figures: Figures
) -> None:
    """A backlog behind a slow provider: PINs past their expiry end expired_before_send, no PIN
    reaches the provider after its expiry, and an expired PIN is deleted from Redis."""
    fresh.configure(latency_ms=100)  # ~20 sends/s with two worker processes
    producer, batch = one_worker.producer, 60
    ids = [producer.send_pin(to, pin_for(500 + i), expires_in=1) for i, to in enumerate(numbers(batch, 500))]
    done = wait_until_done(producer.store, ids, DONE_WITHOUT_RECEIPTS, timeout=30)
    states = [r["state"] for r in done.values()]
    expired = [rid for rid, r in done.items() if r["state"] == "expired_before_send"]
    calls = [c for c in fresh.requests() if c["params"].get("client-ref") in done]
    late = [c for c in calls if float(c["arrived"]) > _expiry(done, c) + 0.5]
    figures.add(
        "PIN expiry in the queue", f"{batch} PINs with a 1 s expiry behind a provider answering "
        "in 100 ms (2 worker processes)", sent=batch, lost=0, duplicated=0,
        measured=f"{states.count('submitted')} sent in time, {len(expired)} expired_before_send, "
        f"{len(late)} reached the provider after expiry",
    )
    assert set(states) <= {"submitted", "expired_before_send"}
    assert expired and states.count("submitted") == len(calls)
    assert late == []
    assert not any(producer.redis.exists(producer.store.pin_key(rid)) for rid in expired)
    for rid in ids:  # sent ones were claimed before their expiry
        raw = done[rid]
        if raw["state"] == "submitted":
            assert float(raw["first_attempt_at"]) <= float(raw["expires_at"])


def _expiry(records: dict[str, dict[str, str]], call: dict[str, object]) -> float:
    params = call["params"]
    assert isinstance(params, dict)
    return float(records[params["client-ref"]]["expires_at"])


def _dead(live: LiveStack, action: str, request_id: str | None, capsys: pytest.CaptureFixture[str]
          ) -> tuple[int, str]:
    """`pinrelay dead ACTION sends [ID]` in-process, on the stack's producer."""
    code = run_dead(argparse.Namespace(action=action, kind="sends", id=request_id), live.producer)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("fault", "dead_state"), [("status:7", "error"), ("garbage", "unconfirmed")])
def test_dead_send_is_replayed_once_as_a_linked_request(
    one_worker: LiveStack, fresh: Simulator, capsys: pytest.CaptureFixture[str], fault: str,
    dead_state: str,
) -> None:
    """An error/unconfirmed send is in dead:sends; `pinrelay dead replay` sends it once more as
    a new request linked both ways; a second replay is refused."""
    fresh.configure(script=(fault,))
    producer = one_worker.producer
    rid = producer.send_pin(TO, "135790")
    assert producer.wait(rid, 15)["state"] == dead_state
    listed = _cli(one_worker, "dead", "list", "sends")
    assert rid in [row["id"] for row in json.loads(listed)]

    new_id = json.loads(_cli(one_worker, "dead", "replay", "sends", rid))["id"]
    replayed = producer.wait(new_id, 15, until=DONE_WITHOUT_RECEIPTS)
    assert replayed["state"] == "submitted" and replayed["replay_of"] == rid
    original = producer.get_status(rid)
    assert original["state"] == dead_state and original["replayed_as"] == new_id
    assert fresh.accepted_count(TO, "135790", new_id) == 1
    refused = (1, f"pinrelay dead replay: already replayed as {new_id}\n")
    assert _dead(one_worker, "replay", rid, capsys) == refused
    assert rid not in [row["id"] for row in json.loads(_dead(one_worker, "list", None, capsys)[1])]


def test_replay_of_an_expired_pin_is_refused(
    one_worker: LiveStack, fresh: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once the PIN has expired a dead send cannot be replayed and nothing reaches the provider."""
    fresh.configure(script=("status:7",))
    producer = one_worker.producer
    rid = producer.send_pin(TO, "864202", expires_in=1)
    assert producer.wait(rid, 15)["state"] == "error"
    wait_until(lambda: not producer.redis.exists(producer.store.pin_key(rid)), 5, "the PIN to expire")
    code, out = _dead(one_worker, "replay", rid, capsys)
    assert (code, out) == (1, "pinrelay dead replay: the PIN expired; ask the user to request a new one\n")
    assert len(fresh.requests()) == 1


def test_replay_of_a_sent_pin_is_refused(
    one_worker: LiveStack, fresh: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A submitted send is not a dead letter: replay refuses it."""
    rid = one_worker.producer.send_pin(TO, "112358")
    assert one_worker.producer.wait(rid, 15, until={"submitted"})["state"] == "submitted"
    code, out = _dead(one_worker, "replay", rid, capsys)
    assert code == 1 and "not error/unconfirmed" in out
    assert len(fresh.requests()) == 1


def _cli(live: LiveStack, *args: str) -> str:
    """Run ``pinrelay ARGS`` as an operator would, against the stack's Redis, prefix and queue."""
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", *args], env=live.stack.env(), capture_output=True,
        text=True, timeout=30, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout

