"""Each route's delivery success rate from the receipts the correlator applies, and how routes are
shown (`route_status`, the `pinrelay_route_state` metric)."""

from __future__ import annotations

import json
import time

import redis
from prometheus_client import CollectorRegistry, generate_latest

from worker.config import Settings
from worker.records.store import RecordStore, new_request_id
from worker.send.route_health import RouteHealth, route_status
from worker.send.route_metrics import RouteStateCollector
from worker.send.routes.base import MIN_RECEIPTS, WINDOW
from worker.states import State


def _sent(store: RecordStore, route: str, message_id: str) -> None:
    """A submitted send on ``route`` whose message-id is indexed, as FINISH leaves it."""
    rid = new_request_id()
    store.create(rid, None, store.new_record(rid, to="16365553226", pin="1234", client_ref=None, params=None,
                                             expires_at=time.time() + 60))
    store.claim(rid, route=route)
    store.finish(rid, State.SUBMITTED, message_id=message_id)


def _receipts(health: RouteHealth, statuses: list[tuple[str, str]], verdict: str = "applied") -> int:
    payloads = [json.dumps({"messageId": mid, "status": status}) for mid, status in statuses]
    return health.record(payloads, [verdict] * len(payloads))


def test_a_route_turns_degraded_below_the_minimum_and_recovers(settings: Settings,
                                                               redis_client: redis.Redis) -> None:
    """Over at least MIN_RECEIPTS final receipts, a delivered share below the minimum is `degraded`;
    enough deliveries make it `healthy` again."""
    settings = settings.replace(routes=("sc2fa", "sms"), sms_from="1201")
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    health = RouteHealth(settings, redis_client)
    ids = [f"m{i}" for i in range(3 * MIN_RECEIPTS)]
    for mid in ids:
        _sent(store, "sc2fa", mid)
    assert _receipts(health, [(mid, "failed") for mid in ids[: MIN_RECEIPTS - 1]]) == MIN_RECEIPTS - 1
    assert route_status(redis_client, settings)[0]["health"] == "healthy"  # too few to judge
    _receipts(health, [(ids[MIN_RECEIPTS - 1], "rejected")])
    first = route_status(redis_client, settings)[0]
    assert (first["health"], first["shown_as"]) == ("degraded", "degraded")
    assert first["delivery"]["success_rate"] == 0.0
    _receipts(health, [(mid, "delivered") for mid in ids[MIN_RECEIPTS : 2 * MIN_RECEIPTS]])
    again = route_status(redis_client, settings)[0]
    assert again["health"] == "healthy" and again["delivery"]["success_rate"] == 0.5
    assert route_status(redis_client, settings)[1]["delivery"]["receipts"] == 0  # sms sent none


def test_only_applied_final_receipts_count(settings: Settings, redis_client: redis.Redis) -> None:
    """Intermediate receipts (accepted, buffered) and duplicates or stale ones are not counted."""
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    health = RouteHealth(settings, redis_client)
    _sent(store, "sc2fa", "x1")
    assert _receipts(health, [("x1", "accepted"), ("x1", "buffered")]) == 0
    assert _receipts(health, [("x1", "delivered")], verdict="duplicate") == 0
    assert _receipts(health, [("x1", "weird-status")]) == 1  # the correlator records it as unknown
    assert _receipts(health, [("nobody", "delivered")]) == 0  # no send, no route


def test_the_window_keeps_the_last_receipts_only(settings: Settings, redis_client: redis.Redis) -> None:
    """The rate is over the last WINDOW receipts: older ones drop out."""
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    health = RouteHealth(settings, redis_client)
    for i in range(WINDOW + 20):
        _sent(store, "sc2fa", f"w{i}")
    _receipts(health, [(f"w{i}", "failed") for i in range(20)])
    _receipts(health, [(f"w{i}", "delivered") for i in range(20, WINDOW + 20)])
    status = route_status(redis_client, settings)[0]
    assert status["delivery"] == {"receipts": WINDOW, "delivered": WINDOW, "success_rate": 1.0}
    assert redis_client.llen(f"{settings.key_prefix}route:sc2fa:window") == WINDOW


def test_route_state_metric_shows_each_route(settings: Settings, redis_client: redis.Redis) -> None:
    """pinrelay_route_state{route}: 0 closed, 1 degraded, 3 open; the reason rides on route_info."""
    settings = settings.replace(routes=("sc2fa", "sms", "twilio"))
    prefix = f"{settings.key_prefix}route:"
    redis_client.hset(prefix + "sc2fa", mapping={"state": "open", "reason": "provider status 4",
                                                 "changed_at": "1700000000.000", "open_until": "1700000060"})
    redis_client.hset(prefix + "sms", "health", "degraded")
    registry = CollectorRegistry()
    registry.register(RouteStateCollector(redis_client, settings))
    text = generate_latest(registry).decode()
    assert 'pinrelay_route_state{route="sc2fa"} 3.0' in text
    assert 'pinrelay_route_state{route="sms"} 1.0' in text
    assert 'pinrelay_route_state{route="twilio"} 0.0' in text
    assert 'pinrelay_route_info{reason="provider status 4",route="sc2fa",state="open"} 1.0' in text
    assert 'pinrelay_route_state_changed_timestamp_seconds{route="sc2fa"} 1.7e+09' in text
