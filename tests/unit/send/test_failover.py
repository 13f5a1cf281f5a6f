"""The failover table (docs/routes.md), one case per row, through `deliver` with a
real Redis, the real breakers (Lua) and scripted routes that answer like the real ones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis
import structlog

from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import (
    DeferSend,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnconfirmedSendError,
)
from worker.records.store import RecordStore, new_request_id
from worker.send.delivery import DeliveryDeps, deliver
from worker.send.route_health import route_status
from worker.send.router import Router
from worker.send.routes.base import COUNTRY_RUN, TRANSIENT_RUN, Accepted, Blame
from worker.send.routes.vonage import vonage_blame

TO = "16365553226"
CA = "14165553226"


@dataclass
class ScriptedRoute:
    """A route answering from a script (an exception, or "ok"), blaming like the Vonage routes."""

    name: str
    script: list[object] = field(default_factory=list)
    calls: list[str | None] = field(default_factory=list)
    receipt_format: str = "vonage-dlr"

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        self.calls.append(client_ref)
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Exception):
            raise step
        return Accepted(f"{self.name.upper()}{len(self.calls):08d}", "0", None, None, None, 0.001)

    def blame(self, exc: ProviderError) -> Blame:
        return vonage_blame(exc)


@pytest.fixture(autouse=True)
def _plain_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def two(settings: Settings) -> Settings:
    """Two routes; a breaker opened by a test stays open for the test (a loaded machine is slow)."""
    return settings.replace(routes=("sc2fa", "sms"), sms_from="12015550123", route_cooldown_s=30)


@pytest.fixture
def store(two: Settings, redis_client: redis.Redis) -> RecordStore:
    return RecordStore(redis_client, prefix=two.key_prefix, ttl_s=two.record_ttl_s)


class Setup:
    def __init__(self, settings: Settings, client: redis.Redis, store: RecordStore, *scripts: list[object],
                 draw: float = 0.99) -> None:
        self.routes = [ScriptedRoute(name, list(script)) for name, script in zip(settings.routes, scripts,
                                                                                 strict=True)]
        self.router = Router(settings, client, {r.name: r for r in self.routes}, draw=lambda: draw)
        self.sleeps: list[float] = []
        self.deps = DeliveryDeps(settings=settings, store=store, provider=self.routes[0],
                                 log=structlog.get_logger(), sleep=self.sleeps.append,
                                 router=self.router)
        self.store, self.settings, self.client = store, settings, client

    def send(self, to: str = TO, country: str = "") -> str:
        rid = new_request_id()
        argv = self.store.new_record(rid, to=to, pin="424242", client_ref=None, params=None,
                                     expires_at=time.time() + 300, country=country)
        self.store.create(rid, None, argv)
        return rid

    def breaker(self, route: str) -> dict[str, str]:
        raw = self.client.hgetall(f"{self.settings.key_prefix}route:{route}")
        return {k.decode(): v.decode() for k, v in raw.items()}

    def waits(self) -> list[float]:
        """The backoff waits (a move to the next route "at once" waits 0)."""
        return [w for w in self.sleeps if w > 0]

    def calls(self) -> list[int]:
        return [len(r.calls) for r in self.routes]


def test_the_numbers_fault_ends_the_send_on_no_other_route(two: Settings, redis_client: redis.Redis,
                                                          store: RecordStore) -> None:
    """Status 7 (barred): error after one call; the next route is never asked."""
    s = Setup(two, redis_client, store, [PermanentProviderError("barred", status="7")], [])
    rid = s.send()
    assert deliver(rid, s.deps) == "error"
    assert s.calls() == [1, 0]
    assert store.get(rid)["routes_tried"] == ["sc2fa"]
    assert s.breaker("sc2fa").get("state", "closed") == "closed"


def test_an_opt_out_denylists_the_number_for_every_later_send(two: Settings, redis_client: redis.Redis,
                                                              store: RecordStore) -> None:
    """Status 102: error, the number goes on sc2fa's denylist, and a later send ends without a call."""
    s = Setup(two, redis_client, store, [PermanentProviderError("opted out", status="102")], [])
    assert deliver(s.send(), s.deps) == "error"
    later = s.send()
    assert deliver(later, s.deps) == "error"
    assert s.calls() == [1, 0]
    assert "opted out on route sc2fa" in store.get(later)["error_text"]
    assert route_status(redis_client, two)[0]["denylisted"] == 1


def test_the_routes_fault_moves_the_next_attempt_to_the_next_route_at_once(
        two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """Status 101: the sms route gets the next attempt with no backoff; sc2fa's breaker opens and new
    sends start on sms, the first closed route."""
    s = Setup(two, redis_client, store, [PermanentProviderError("campaign", status="101")], [])
    rid = s.send()
    assert deliver(rid, s.deps) == "submitted"
    record = store.get(rid)
    assert (record["route"], record["routes_tried"]) == ("sms", ["sc2fa", "sms"])
    assert s.waits() == [] and s.calls() == [1, 1]
    assert s.breaker("sc2fa")["state"] == "open" and "101" in s.breaker("sc2fa")["reason"]
    assert deliver(s.send(), s.deps) == "submitted"
    assert s.calls() == [1, 2]


def test_the_routes_fault_does_not_spend_the_sends_attempts(two: Settings, redis_client: redis.Redis,
                                                            store: RecordStore) -> None:
    """Calls a route refused are not counted against PINRELAY_MAX_ATTEMPTS."""
    s = Setup(two, redis_client, store, [PermanentProviderError("creds", status="4")], [])
    rid = s.send()
    assert deliver(rid, s.deps) == "submitted"
    assert store.get_raw(rid)["route_faults"] == "1"


def test_a_transient_failure_moves_at_once_when_a_route_follows(two: Settings, redis_client: redis.Redis,
                                                                store: RecordStore) -> None:
    """HTTP 503 on sc2fa: sms at once; one transient failure does not open sc2fa."""
    s = Setup(two, redis_client, store, [TransientProviderError("5xx", http_status=503)], [])
    assert deliver(s.send(), s.deps) == "submitted"
    assert s.waits() == [] and s.calls() == [1, 1]
    assert s.breaker("sc2fa").get("state", "closed") == "closed" and s.breaker("sc2fa")["run"] == "1"


def test_a_transient_failure_on_the_last_route_backs_off_and_comes_round(
        two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """503 on sc2fa, then 503 on sms (the last): backoff, then sc2fa again."""
    s = Setup(two, redis_client, store, [TransientProviderError("5xx", http_status=503)],
              [TransientProviderError("5xx", http_status=503)])
    rid = s.send()
    assert deliver(rid, s.deps) == "submitted"
    assert s.calls() == [2, 1] and len(s.waits()) == 1
    assert store.get(rid)["route"] == "sc2fa"


def test_throttling_stays_on_the_route_until_its_budget_is_spent(two: Settings, redis_client: redis.Redis,
                                                                 store: RecordStore) -> None:
    """Status 1 is retried on the same route after its wait; after three in a row, the next route."""
    throttled = [TransientProviderError("t", status="1", retry_after=0.4) for _ in range(3)]
    s = Setup(two, redis_client, store, [throttled[0]], [])
    assert deliver(s.send(), s.deps) == "submitted"
    assert s.calls() == [2, 0] and s.waits()[0] >= 0.4
    s = Setup(two, redis_client, store, throttled, [])
    assert deliver(s.send(), s.deps) == "submitted"
    assert s.calls() == [3, 1]


def test_unconfirmed_never_moves(two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """A read timeout ends `unconfirmed` after one call; no other route sends the PIN."""
    s = Setup(two, redis_client, store, [UnconfirmedSendError("no answer")], [])
    assert deliver(s.send(), s.deps) == "unconfirmed"
    assert s.calls() == [1, 0]


def test_a_partial_multi_part_answer_is_unconfirmed_and_keeps_its_ids(
        two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """The accepted parts' ids are indexed, so their receipts still settle the send; never resent."""
    s = Setup(two, redis_client, store, [UnconfirmedSendError("partial", status="partial", message_id="a,b")],
              [])
    rid = s.send()
    assert deliver(rid, s.deps) == "unconfirmed"
    assert store.get(rid)["message_id"] == "a" and s.calls() == [1, 0]
    assert redis_client.get(f"{two.key_prefix}msg:b") == rid.encode()


def test_accepted_never_moves_and_a_successful_probe_closes_the_breaker(
        two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """An open route past its cooldown gets one probe; its success closes the breaker."""
    s = Setup(two, redis_client, store, [], [])
    s.router.report("sc2fa", "route", "status 4")
    redis_client.hset(f"{two.key_prefix}route:sc2fa", "open_until", f"{time.time() - 1:.3f}")
    rid = s.send()
    assert deliver(rid, s.deps) == "submitted"
    assert s.calls() == [1, 0] and store.get(rid)["route"] == "sc2fa"
    assert s.breaker("sc2fa")["state"] == "closed"


def test_no_usable_route_leaves_the_send_queued_until_one_closes(
        two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """Both routes refuse the credentials: the send waits in `queued` (DeferSend), not `error`, and
    goes out through the probe once a cooldown is over and the route works again."""
    short = two.replace(route_cooldown_s=1.0)  # the second try below comes well within it
    s = Setup(short, redis_client, store, [PermanentProviderError("creds", status="4")],
              [PermanentProviderError("creds", status="4")])
    rid = s.send()
    with pytest.raises(DeferSend) as waited:
        deliver(rid, s.deps)
    assert 0 < waited.value.countdown_s <= short.route_cooldown_s + 0.001  # times in Redis: ms, as floats
    assert store.get(rid)["state"] == "queued" and s.calls() == [1, 1]
    with pytest.raises(DeferSend):
        deliver(rid, s.deps)  # still inside the cooldown: no call at all
    assert s.calls() == [1, 1]
    time.sleep(short.route_cooldown_s)  # the cooldown itself is what is tested here
    assert deliver(rid, s.deps) == "submitted"
    assert store.get(rid)["attempts"] == 3


def test_a_run_of_transient_failures_opens_the_breaker(two: Settings, redis_client: redis.Redis,
                                                       store: RecordStore) -> None:
    """TRANSIENT_RUN transient failures in a row open the route; a success in between resets the run."""
    s = Setup(two, redis_client, store, [], [])
    for _ in range(TRANSIENT_RUN - 1):
        assert s.router.report("sms", "transient", "HTTP 503") == "closed"
    assert s.router.report("sms", "ok") == "closed"
    for _ in range(TRANSIENT_RUN - 1):
        s.router.report("sms", "transient", "HTTP 503")
    assert s.router.report("sms", "transient", "HTTP 503") == "open"
    assert f"{TRANSIENT_RUN} transient failures in a row" in s.breaker("sms")["reason"]


@pytest.mark.parametrize(("draw", "expected"), [(0.99, "sms"), (0.01, "sc2fa")])
def test_a_degraded_route_gets_only_the_probe_share(two: Settings, redis_client: redis.Redis,
                                                    store: RecordStore, draw: float, expected: str) -> None:
    """New sends prefer the next healthy route; the probe share still goes to the degraded one."""
    s = Setup(two.replace(route_probe_share=0.05), redis_client, store, [], [], draw=draw)
    redis_client.hset(f"{two.key_prefix}route:sc2fa", "health", "degraded")
    rid = s.send()
    assert deliver(rid, s.deps) == "submitted"
    assert store.get(rid)["route"] == expected


def test_with_every_route_degraded_the_first_still_sends(two: Settings, redis_client: redis.Redis,
                                                         store: RecordStore) -> None:
    """Degraded is not broken: with no healthy route the send goes to the first degraded one."""
    s = Setup(two, redis_client, store, [], [])
    for route in two.routes:
        redis_client.hset(f"{two.key_prefix}route:{route}", "health", "degraded")
    rid = s.send()
    assert deliver(rid, s.deps) == "submitted" and store.get(rid)["route"] == "sc2fa"


def test_one_numbers_destination_refusal_moves_that_send_only(two: Settings, redis_client: redis.Redis,
                                                              store: RecordStore) -> None:
    """Status 29 (this number is not reachable on this route): the send goes to sms at once, sc2fa's
    breaker stays closed (no cooldown for everyone else) and the next send takes sc2fa again."""
    s = Setup(two, redis_client, store, [PermanentProviderError("whitelist", status="29")], [])
    rid = s.send()
    assert deliver(rid, s.deps) == "submitted"
    raw = store.get_raw(rid)
    assert (raw["route"], raw["routes_refused"], raw["route_faults"]) == ("sms", "sc2fa", "1")
    assert s.breaker("sc2fa").get("state", "closed") == "closed" and "countries" not in s.breaker("sc2fa")
    other = s.send()
    assert deliver(other, s.deps) == "submitted" and store.get(other)["route"] == "sc2fa"
    assert s.calls() == [2, 1]


def test_a_destination_refusal_on_the_only_route_ends_that_send_and_nothing_else(
        settings: Settings, redis_client: redis.Redis) -> None:
    """One route (Twilio 21612 for one number): that send ends in `error` with the provider's code at
    once; it never comes back as a probe, and the next send goes out on the same route."""
    one = settings.replace(routes=("sms",), sms_from="12015550123", route_cooldown_s=30)
    store = RecordStore(redis_client, prefix=one.key_prefix, ttl_s=one.record_ttl_s)
    s = Setup(one, redis_client, store, [PermanentProviderError("unroutable", status="29")])
    rid = s.send()
    assert deliver(rid, s.deps) == "error"
    assert store.get(rid)["provider_status"] == "29"
    assert deliver(s.send(), s.deps) == "submitted"
    assert s.calls() == [2] and s.breaker("sms").get("state", "closed") == "closed"


def test_country_refusals_open_only_that_countrys_breaker_on_that_route(
        two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """Status 15 (sender not allowed there) COUNTRY_RUN times in a row for US numbers: each of those
    sends moves to sms; then (sc2fa, US) is open: US sends go straight to sms, a CA send still takes
    sc2fa, whose own breaker never opened."""
    refusals = [PermanentProviderError("sender", status="15") for _ in range(COUNTRY_RUN)]
    s = Setup(two, redis_client, store, refusals, [])
    for _ in range(COUNTRY_RUN):
        assert deliver(s.send(country="US"), s.deps) == "submitted"
    assert s.calls() == [COUNTRY_RUN, COUNTRY_RUN]
    status = route_status(redis_client, two)[0]
    assert status["state"] == "closed" and status["countries"]["US"]["state"] == "open"
    us = s.send(country="US")
    assert deliver(us, s.deps) == "submitted" and store.get(us)["route"] == "sms"
    ca = s.send(CA, country="CA")
    assert deliver(ca, s.deps) == "submitted" and store.get(ca)["route"] == "sc2fa"
    assert s.calls() == [COUNTRY_RUN + 1, COUNTRY_RUN + 1]


def test_an_acceptance_between_country_refusals_resets_the_run(two: Settings, redis_client: redis.Redis,
                                                               store: RecordStore) -> None:
    """A send to that country accepted on the route forgets the run: the pick stops asking."""
    s = Setup(two, redis_client, store, [PermanentProviderError("sender", status="15")], [])
    assert deliver(s.send(country="US"), s.deps) == "submitted"
    assert s.breaker("sc2fa")["countries"] == "1"
    assert deliver(s.send(country="US"), s.deps) == "submitted"
    assert "countries" not in s.breaker("sc2fa")
    assert route_status(redis_client, two)[0]["countries"] == {}


def test_an_open_country_breaker_lets_one_probe_through_after_its_cooldown(
        two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """Past the cooldown one US send goes to sc2fa again; accepted, the country's breaker is gone."""
    s = Setup(two, redis_client, store, [], [])
    for _ in range(COUNTRY_RUN):
        s.router.report_country("sc2fa", "US", "country", "15: sender")
    redis_client.hset(f"{two.key_prefix}route:sc2fa:cc", "US:open_until", f"{time.time() - 1:.3f}")
    rid = s.send(country="US")
    assert deliver(rid, s.deps) == "submitted" and store.get(rid)["route"] == "sc2fa"
    assert redis_client.exists(f"{two.key_prefix}route:sc2fa:cc") == 0


def test_a_country_probe_that_meets_another_answer_is_handed_back(
        two: Settings, redis_client: redis.Redis, store: RecordStore) -> None:
    """The (sc2fa, US) probe gets a 503: the probe lease is released at once (the next US send may
    probe), the country's breaker stays as it was, and the send moves on to sms."""
    s = Setup(two, redis_client, store, [TransientProviderError("5xx", http_status=503)], [])
    for _ in range(COUNTRY_RUN):
        s.router.report_country("sc2fa", "US", "country", "15: sender")
    redis_client.hset(f"{two.key_prefix}route:sc2fa:cc", "US:open_until", f"{time.time() - 1:.3f}")
    rid = s.send(country="US")
    assert deliver(rid, s.deps) == "submitted" and store.get(rid)["route"] == "sms"
    held = redis_client.hmget(f"{two.key_prefix}route:sc2fa:cc", "US:probe_until", "US:open_until")
    assert held[0] is None and held[1] is not None
