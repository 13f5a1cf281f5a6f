"""One Redis call per attempt: the rate token, the route pick and the claim in ``claim.lua``.

Against a real Redis: what the one call decides (a token first, then the route, then the
claim; nothing written when it says wait), how many commands an attempt costs, the deny
set asked only once a route has denies, and the sweep's handling of claimed sends (which
the claim no longer re-stamps in the pending set).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
import structlog

from worker import constants as c
from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.records.store import RecordStore, new_request_id
from worker.send.delivery import DeliveryDeps, deliver
from worker.send.ratelimit import RedisTokenBucket
from worker.send.router import Router
from worker.send.routes.base import Accepted, Blame
from worker.send.routes.vonage import vonage_blame

TO = "16365553226"


class OkRoute:
    receipt_format = "vonage-dlr"

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        self.calls += 1
        return Accepted(f"{self.name.upper()}{self.calls:08d}", "0", None, None, None, 0.001)

    def blame(self, exc: Exception) -> Blame:
        return vonage_blame(exc)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _plain_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def two(settings: Settings) -> Settings:
    return settings.replace(routes=("sc2fa", "sms"), sms_from="12015550123")


@pytest.fixture
def store(two: Settings, redis_client: redis.Redis) -> RecordStore:
    return RecordStore(redis_client, prefix=two.key_prefix, ttl_s=two.record_ttl_s)


def _enqueue(store: RecordStore, to: str = TO) -> str:
    rid = new_request_id()
    argv = store.new_record(rid, to=to, pin="424242", client_ref=None, params=None,
                            expires_at=time.time() + 300)
    assert store.create(rid, None, argv) == rid
    return rid


def _router(settings: Settings, client: redis.Redis) -> tuple[Router, dict[str, OkRoute]]:
    routes = {name: OkRoute(name) for name in settings.routes}
    return Router(settings, client, routes, draw=lambda: 0.99), routes  # type: ignore[arg-type]


def _bucket(settings: Settings, client: redis.Redis, rate: float) -> RedisTokenBucket:
    return RedisTokenBucket(client, prefix=settings.key_prefix, rate_per_s=rate, max_inline_wait_s=0)


def test_one_call_takes_the_token_picks_the_route_and_claims(two: Settings, store: RecordStore,
                                                              redis_client: redis.Redis) -> None:
    router, _ = _router(two, redis_client)
    rid = _enqueue(store)
    claim = store.claim(rid, lease_s=30, route="sc2fa", rate=_bucket(two, redis_client, 1000).claim_rate(),
                        pick=router.claim_pick())
    assert (claim.verdict, claim.route, claim.how) == ("ok", "sc2fa", "closed")
    assert (claim.attempts, claim.pin) == (1, "424242")
    record = store.get_raw(rid)
    assert (record["state"], record["route"], record["routes_tried"], record["attempts"]) == (
        "sending", "sc2fa", "sc2fa", "1")
    bucket = redis_client.hgetall(f"{two.key_prefix}{c.KEY_RATE_BUCKET}")
    assert set(bucket) == {b"tokens", b"ts"}  # the token came out of the shared bucket


def test_an_open_first_route_moves_the_claim_to_the_next(two: Settings, store: RecordStore,
                                                         redis_client: redis.Redis) -> None:
    router, _ = _router(two, redis_client)
    opened = {"state": "open", "open_until": time.time() + 60}
    redis_client.hset(f"{two.key_prefix}route:sc2fa", mapping=opened)
    claim = store.claim(_enqueue(store), lease_s=30, route="sc2fa", pick=router.claim_pick())
    assert (claim.verdict, claim.route) == ("ok", "sms")


def test_no_token_writes_nothing_and_says_how_long(two: Settings, store: RecordStore,
                                                  redis_client: redis.Redis) -> None:
    """Burst 1 at 1/s: the second send's claim is refused before anything is written."""
    router, _ = _router(two, redis_client)
    rate = _bucket(two, redis_client, 1).claim_rate()
    first, second = _enqueue(store), _enqueue(store)
    assert store.claim(first, lease_s=30, rate=rate, pick=router.claim_pick()).verdict == "ok"
    refused = store.claim(second, lease_s=30, rate=rate, pick=router.claim_pick())
    assert refused.verdict == "rate" and 0 < refused.wait_s <= 1.0
    record = store.get_raw(second)
    assert (record["state"], record["attempts"]) == ("queued", "0") and "route" not in record


def test_a_pause_holds_every_claim(two: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    bucket = _bucket(two, redis_client, 1000)
    bucket.pause(5)
    refused = store.claim(_enqueue(store), lease_s=30, route="sc2fa", rate=bucket.claim_rate())
    assert refused.verdict == "rate" and 4 < refused.wait_s <= 5


def test_every_route_waiting_writes_nothing(two: Settings, store: RecordStore,
                                            redis_client: redis.Redis) -> None:
    router, _ = _router(two, redis_client)
    for name in two.routes:
        opened = {"state": "open", "open_until": time.time() + 9}
        redis_client.hset(f"{two.key_prefix}route:{name}", mapping=opened)
    rid = _enqueue(store)
    waiting = store.claim(rid, lease_s=30, pick=router.claim_pick())
    assert waiting.verdict == "wait" and 8 < waiting.wait_s <= 9.01  # "now" goes to Redis in ms
    assert store.get_raw(rid)["state"] == "queued"


def test_an_attempt_costs_two_script_calls_and_few_commands(two: Settings, store: RecordStore,
                                                            redis_client: redis.Redis) -> None:
    """deliver: one claim call, one finish call; the count guards against a round trip creeping back."""
    router, routes = _router(two, redis_client)
    deps = DeliveryDeps(settings=two, store=store, provider=routes["sc2fa"], log=structlog.get_logger(),
                        limiter=_bucket(two, redis_client, 1000), router=router)
    rid = _enqueue(store)
    redis_client.config_resetstat()
    assert deliver(rid, deps) == "submitted"
    stats = redis_client.info("commandstats")
    evalsha = stats["cmdstat_evalsha"]
    assert int(evalsha["calls"]) - int(evalsha.get("failed_calls", 0)) == 2  # (NOSCRIPT: loaded, then run)
    # claim: HMGET record, GET PIN, TIME, HMGET bucket, HSET bucket, HMGET each route, HSET record;
    # finish: HGET, HSET, DEL PIN, ZREM pending, HINCRBY stats, SET message-id, LRANGE parked
    not_inner = {"cmdstat_evalsha", "cmdstat_script|load", "cmdstat_config|resetstat"}
    inner = sum(int(v["calls"]) for k, v in stats.items() if k not in not_inner)
    assert inner <= 15, stats
    assert routes["sc2fa"].calls == 1


def test_a_number_on_a_deny_set_is_refused_even_when_written_before_the_mark(
        two: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    """The pick asks a deny set only once the route says ``denies``; sets from before the mark
    are found when the router starts."""
    redis_client.sadd(f"{two.key_prefix}route:sms:deny", TO)  # as an older version left it
    router, _ = _router(two, redis_client)
    claim = store.claim(_enqueue(store), lease_s=30, pick=router.claim_pick())
    assert (claim.verdict, claim.route) == ("denied", "sms")
    other = store.claim(_enqueue(store, to="16365553227"), lease_s=30, pick=router.claim_pick())
    assert other.verdict == "ok"


def test_deny_marks_the_route(two: Settings, store: RecordStore, redis_client: redis.Redis) -> None:
    router, _ = _router(two, redis_client)
    assert store.claim(_enqueue(store), lease_s=30, pick=router.claim_pick()).verdict == "ok"
    router.deny("sc2fa", TO)
    assert redis_client.hget(f"{two.key_prefix}route:sc2fa", "denies") == b"1"
    claim = store.claim(_enqueue(store), lease_s=30, pick=router.claim_pick())
    assert (claim.verdict, claim.route) == ("denied", "sc2fa")


def test_the_sweep_counts_a_claimed_send_from_its_claim(two: Settings, store: RecordStore,
                                                        redis_client: redis.Redis) -> None:
    """A send queued long ago and claimed just now is not republished; one whose claim is old is."""
    old, fresh = _enqueue(store), _enqueue(store)
    long_ago = time.time() - 1000
    redis_client.zadd(store.pending_key, {old: long_ago, fresh: long_ago})
    store.claim(old, now=long_ago + 1, lease_s=30, route="sc2fa")
    store.claim(fresh, lease_s=30, route="sc2fa")
    cutoff = time.time() - 100
    assert store.lost_tasks(cutoff) == [old]
    assert redis_client.zscore(store.pending_key, fresh) == pytest.approx(
        float(store.get_raw(fresh)["sending_at"]), abs=0.01)
    assert store.lost_tasks(cutoff) == []  # re-stamped: once per grace period
