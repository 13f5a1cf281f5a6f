"""A misbehaving provider, four workers, one global rate limit.

The simulator answers 5xx, 429, status 1/5, permanent codes, hangs past the read
timeout, garbage and dropped connections at random. Judged from what the provider
saw, per request: only transient answers are followed by another call, no request
gets more than ``max_attempts`` calls, waits honour the provider's hints and are
jittered, and the provider-side rate across all workers stays within the limit.
"""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, Stacks
from tests.support.sim import simulator
from worker.records.store import RecordStore, new_request_id
from worker.send.ratelimit import RedisTokenBucket

from .figures import Figures
from .harness import DONE_WITHOUT_RECEIPTS, calls_by_ref, enqueue_batch, outcome, sliding_rates

RATE_LIMIT = 30.0  # sends/s across all workers (PINRELAY_RATE_LIMIT)
WORKERS = 4
THROTTLE_WAIT_S = 0.2  # the simulator's `wait [ 200 ]` in status-1 answers
RETRY_AFTER_S = 0.5  # the simulator's Retry-After on 429
STORM_SETTINGS: dict[str, Any] = {
    "rate_limit_per_s": RATE_LIMIT,
    "key_send_share": 0.0,  # the load is queued at once on purpose: the provider's limit is tested
    "max_attempts": 4,
    "retry_deadline_s": 6.0,
    "backoff_initial_s": 0.1,
    "backoff_max_s": 1.0,
    "read_timeout_s": 1.0,  # a hang:2 answer is a read timeout
}
STORM = {
    "http:503": 0.10,
    "http:500": 0.04,
    f"429:{RETRY_AFTER_S}": 0.04,
    "status:1": 0.08,
    "status:5": 0.04,
    "status:7": 0.03,  # barred: permanent
    "status:3": 0.02,  # invalid params: permanent
    "hang:2": 0.02,  # past the read timeout, and the PIN is sent: unconfirmed
    "garbage": 0.02,  # an HTML 200: unconfirmed
    "close": 0.02,  # dropped after the request was written: unconfirmed
}
TRANSIENT_OUTCOMES = frozenset(
    {"http:500", "http:503", "http:429", "status:1", "status:5", "status:10", "status:13"}
)


@pytest.fixture(scope="module")
def provider() -> Iterator[Simulator]:
    with simulator(throttle_wait_ms=int(THROTTLE_WAIT_S * 1000), seed=7) as running:
        yield running


@pytest.fixture(scope="module")
def four_workers(
    redis_url: str, provider: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    """Four Celery workers (two processes each) sharing one rate limit of 30 sends/s."""
    stacks = Stacks(tmp_path_factory.mktemp("faults"))
    try:
        yield stacks.start(redis_url, provider, workers=WORKERS, **STORM_SETTINGS)
    finally:
        stacks.close()


@pytest.fixture
def fresh(provider: Simulator) -> Simulator:
    provider.reset(keep_config=True)
    provider.configure(error_rates={}, rate_limit_per_s=RATE_LIMIT)
    return provider


def _arrivals(sim: Simulator) -> list[float]:
    return [float(r["arrived"]) for r in sim.requests()]


@pytest.mark.slow
def test_global_rate_limit_holds_across_four_workers(
    four_workers: LiveStack, fresh: Simulator, figures: Figures
) -> None:
    """A backlog drained by four workers reaches the provider at most at the limit + 10%."""
    batch = 240
    ids = enqueue_batch(four_workers.producer, batch)
    result = outcome(four_workers.producer.store, fresh, ids, DONE_WITHOUT_RECEIPTS, timeout=40)
    peak, mean = sliding_rates(_arrivals(fresh))
    throttled = fresh.stats()["outcomes"].get("status:1", 0)

    assert result.lost == [] and result.duplicated == {}
    assert result.states == Counter({"submitted": batch})
    figures.add(
        "provider rate limit", f"{batch} queued at once, 4 workers x 2 processes, "
        f"PINRELAY_RATE_LIMIT={RATE_LIMIT:.0f}; simulator limits at {RATE_LIMIT:.0f}/s too",
        sent=batch, lost=len(result.lost), duplicated=len(result.duplicated),
        measured=f"max {peak} calls in any 1 s window, mean {mean:.1f}/s; {throttled} throttled by "
        "the provider",
    )
    assert peak <= RATE_LIMIT * 1.1, f"{peak} calls within one second (mean {mean:.1f}/s)"


@pytest.mark.slow
def test_storm_retries_only_transient_answers_with_jittered_backoff(
    four_workers: LiveStack, fresh: Simulator, figures: Figures
) -> None:
    """Under random 5xx/429/throttling/permanent/hang/garbage/close answers, only transient
    answers are retried, within max_attempts, after jittered waits that honour the hints."""
    batch = 200
    fresh.configure(error_rates=STORM)
    started = time.monotonic()
    ids = enqueue_batch(four_workers.producer, batch, offset=1000)
    result = outcome(four_workers.producer.store, fresh, ids, DONE_WITHOUT_RECEIPTS, timeout=60)
    elapsed = time.monotonic() - started
    calls = calls_by_ref(fresh)
    settings = four_workers.settings

    assert result.lost == [] and result.duplicated == {}
    retry_gaps: list[float] = []
    for rid in ids:
        seen, record = calls.get(rid, []), result.records[rid]
        outcomes = [c["outcome"] for c in seen]
        assert 1 <= len(seen) <= settings.max_attempts, (rid, outcomes)
        # Nothing follows an answer that is not transient (accepted, permanent, unconfirmed).
        assert all(o in TRANSIENT_OUTCOMES for o in outcomes[:-1]), (rid, outcomes)
        assert record["state"] == _expected_state(seen[-1], len(seen), settings.max_attempts), (
            rid, outcomes, record["state"], record.get("error_text"),
        )
        for before, after in itertools.pairwise(seen):
            gap = float(after["arrived"]) - float(before["arrived"])
            floor = {"http:429": RETRY_AFTER_S, "status:1": THROTTLE_WAIT_S}.get(before["outcome"], 0.0)
            assert gap >= floor - 0.05, (rid, before["outcome"], gap)  # the provider's hint
            # backoff cap, plus a possible rate-limit deferral: a bucket wait over 2 s gives the
            # worker slot back and re-queues the task with up to 1.5x that countdown.
            assert gap <= settings.backoff_max_s + 6.0, (rid, before["outcome"], gap)
            if floor == 0.0:
                retry_gaps.append(gap)
    assert len(retry_gaps) >= 10
    # Full jitter: the waits after 5xx spread out instead of marching in lock-step.
    assert statistics.pstdev(retry_gaps) > 0.02 and len({round(g, 2) for g in retry_gaps}) > 5
    peak, _ = sliding_rates(_arrivals(fresh))
    total = sum(len(v) for v in calls.values())
    figures.add(
        "provider storm", "random 5xx, 429, status 1/5, permanent 3/7, hang past the read timeout, "
        "garbage, dropped connection (45% of answers); 4 workers", sent=batch,
        lost=len(result.lost), duplicated=len(result.duplicated),
        measured=f"{total} calls ({total / batch:.2f}/request, max {max(len(v) for v in calls.values())}); "
        f"retry waits after 5xx {min(retry_gaps):.2f}-{max(retry_gaps):.2f}s "
        f"(sd {statistics.pstdev(retry_gaps):.2f}); max {peak}/s; states {dict(result.states)}; "
        f"{elapsed:.1f}s",
    )
    assert peak <= RATE_LIMIT * 1.1, f"{peak} calls within one second"


def _expected_state(last: dict[str, Any], calls: int, max_attempts: int) -> str:
    """The record state the provider's last answer must have led to."""
    kind = last["outcome"]
    if kind in TRANSIENT_OUTCOMES:
        return "error"  # gave up: attempts or deadline used
    if kind in ("close", "garbage") or (kind == "status:0" and last["fault"]):
        return "unconfirmed"  # the request was written, no usable answer came back
    if kind == "status:0":
        return "submitted"
    return "error"  # a permanent status



@pytest.mark.timeout(30)
def test_token_bucket_admits_at_most_the_limit_in_any_second(redis_client: redis.Redis) -> None:
    """One process claiming sends through the shared bucket for 2 s (each claim takes its token
    in ``claim.lua``, as every worker's attempt does; a refused claim waits what it was told)
    gets at most the limit + 10% in any 1 s window (the provider counts sliding 1 s windows)."""
    prefix = f"tb{uuid.uuid4().hex[:8]}:"
    store = RecordStore(redis_client, prefix=prefix, ttl_s=600)
    rate = RedisTokenBucket(redis_client, prefix=prefix, rate_per_s=RATE_LIMIT).claim_rate()
    granted: list[float] = []
    try:
        while not granted or granted[-1] - granted[0] < 2.0:
            rid = new_request_id()
            store.create(rid, None, store.new_record(rid, to="16365553226", pin="1234", client_ref=None,
                                                     params=None, expires_at=time.time() + 60))
            while (claim := store.claim(rid, lease_s=30, route="sc2fa", rate=rate)).verdict == "rate":
                time.sleep(claim.wait_s)
            assert claim.verdict == "ok", claim
            granted.append(time.monotonic())
    finally:
        for key in redis_client.scan_iter(match=f"{prefix}*"):
            redis_client.delete(key)
    peak, _ = sliding_rates(granted)
    assert peak <= RATE_LIMIT * 1.1, f"{peak} sends granted within one second at {RATE_LIMIT:.0f}/s"
