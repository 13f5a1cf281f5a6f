"""Failover under faults: the delivery-rate switch and its recovery, and kill -9 of workers while
sends move between routes, with not one PIN accepted twice.

Both run the real processes (workers, receiver, correlator) against the simulator, whose per-route
knobs turn one route's receipts to `failed` and back, or make it refuse and fail calls.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import StartLive
from worker.send.route_health import route_status
from worker.send.routes.base import MIN_RECEIPTS

from .figures import Figures
from .harness import SETTLED, describe, enqueue_batch, kill_pool_child, outcome, wait_until, wait_until_done

FINAL = frozenset({"delivered", "failed", "expired", "rejected", "unknown"})
ROUTES = {"routes": ("sc2fa", "sms"), "sms_from": "12015550123"}
KILL_SETTINGS = {"visibility_timeout_s": 10, "retry_deadline_s": 4, "max_attempts": 3}
FINAL_MIX = {"delivered": 95.0, "failed": 2.0, "expired": 1.0, "rejected": 1.0, "unknown": 1.0}

pytestmark = pytest.mark.slow


def _health(live: object, route: str) -> dict[str, object]:
    status = {r["route"]: r for r in route_status(live.producer.redis, live.settings)}  # type: ignore[attr-defined]
    return status[route]


def _routes_of(live: object, ids: Sequence[str]) -> Counter[str]:
    found = wait_until_done(live.producer.store, ids, FINAL, timeout=30)  # type: ignore[attr-defined]
    states = Counter(r.get("state") for r in found.values())
    assert set(states) <= FINAL, states
    return Counter(r.get("route", "") for r in found.values())


@pytest.mark.timeout(120)
def test_a_route_whose_receipts_fail_is_degraded_and_recovers(
    redis_url: str, sim: Simulator, live_stacks: StartLive, figures: Figures
) -> None:
    """sc2fa's receipts turn `failed`: after MIN_RECEIPTS of them it is degraded and new sends prefer
    sms (the probe share still goes to sc2fa); its receipts turn `delivered` again: the probe share's
    receipts lift its rate back over the minimum and new sends return to it."""
    share = 0.25
    sim.configure(dlr_mix={"delivered": 1.0}, dlr_delay_s=0.02, dlr_retry_initial_s=0.2)
    sim.configure(route="sc2fa", dlr_mix={"failed": 1.0})
    live = live_stacks(redis_url, sim, workers=1, receiver=True, worker_concurrency=4,
                       route_probe_share=share, **ROUTES)
    started = time.monotonic()
    first = _routes_of(live, enqueue_batch(live.producer, MIN_RECEIPTS))
    wait_until(lambda: _health(live, "sc2fa")["health"] == "degraded", 10, "sc2fa to be degraded")
    degraded_at = time.monotonic()
    during = _routes_of(live, enqueue_batch(live.producer, 100, offset=1000))
    sim.configure(route="sc2fa", dlr_mix={"delivered": 1.0})  # the route delivers again
    recovery_sends, offset = 0, 2000
    while _health(live, "sc2fa")["health"] != "healthy":
        assert time.monotonic() - started < 60, f"no recovery after {recovery_sends} sends"
        _routes_of(live, enqueue_batch(live.producer, 100, offset=offset))
        recovery_sends, offset = recovery_sends + 100, offset + 100
    recovered_at = time.monotonic()
    after = _routes_of(live, enqueue_batch(live.producer, 40, offset=9000))
    rate = _health(live, "sc2fa")["delivery"]

    figures.add(
        "route receipts turn failed", f"sc2fa: all `failed` for {MIN_RECEIPTS} sends, then `delivered`; "
        f"probe share {share}", sent=MIN_RECEIPTS + 140 + recovery_sends, lost=0, duplicated=0,
        measured=f"degraded after {MIN_RECEIPTS} receipts ({degraded_at - started:.1f}s); while degraded "
        f"{during['sc2fa']}/100 sends on sc2fa; healthy again after {recovery_sends} more sends "
        f"({recovered_at - degraded_at:.1f}s, rate {rate}); then {after['sc2fa']}/40 on sc2fa",
    )
    assert first == {"sc2fa": MIN_RECEIPTS}
    assert 5 <= during["sc2fa"] <= 50 and during["sms"] >= 50  # preferred: sms; probe share: sc2fa
    assert after == {"sc2fa": 40}


@pytest.mark.timeout(150)
def test_killed_pool_processes_during_failover_send_nothing_twice(
    redis_url: str, sim: Simulator, live_stacks: StartLive, figures: Figures
) -> None:
    """sc2fa answers 503 or 101 to a third of the calls (sends move to sms at once, its breaker opens
    and closes); four prefork children are SIGKILLed mid-batch: every send settles, none is accepted
    twice on any route."""
    sim.configure(latency_ms=30, dlr_mix=FINAL_MIX)
    sim.configure(route="sc2fa", error_rates={"http:503": 0.25, "status:101": 0.08})
    live = live_stacks(redis_url, sim, workers=2, receiver=True, route_cooldown_s=0.5, **ROUTES,
                       **KILL_SETTINGS)
    workers = [live.stack.processes["worker0"], live.stack.processes["worker1"]]
    batch = 500
    started = time.monotonic()
    ids = enqueue_batch(live.producer, batch)
    for step, at_calls in enumerate((100, 200, 300, 400)):
        wait_until(lambda n=at_calls: len(sim.requests()) >= n, 60, f"{at_calls} provider calls")
        kill_pool_child(workers[step % 2], index=step)
    result = outcome(live.producer.store, sim, ids, SETTLED, timeout=90)
    moved = sum(1 for r in result.records.values() if r.get("routes_tried", "").count(",") >= 1)
    by_route = Counter(r.get("route", "") for r in result.records.values())

    figures.add(
        "pool process SIGKILL during failover", "kill -9 of 4 prefork children at 100/200/300/400 calls; "
        "sc2fa 25% HTTP 503 + 8% status 101, sms behind it", sent=batch, lost=len(result.lost),
        duplicated=len(result.duplicated),
        measured=f"{moved} sends moved routes; ended on {dict(by_route)}; {len(result.in_window)} in the "
        f"window; settled in {time.monotonic() - started:.1f}s",
    )
    assert result.lost == [], describe(result, sim, live)
    assert result.duplicated == {}
    assert moved > 0 and by_route["sms"] > 0
    assert len(result.in_window) <= 4
