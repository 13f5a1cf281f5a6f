"""The pumping guard's decisions (worker/lua/guard.lua through create.lua) against a real Redis.

Driven the way every entry point drives it: :class:`Producer` (``send_pin``, ``send_pins``) and
:class:`AbuseGuard` (the ``send_task`` path's check). The clock the guard judges by is the one
:mod:`worker.guard.decide` reads, moved forward by :class:`Clock` where a test needs sends older
than the grace, so no test sleeps through a window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from structlog.testing import capture_logs

import worker.guard.decide as decide_module
from worker import constants as c
from worker.config import Settings
from worker.enqueue.abuse import AbuseGuard
from worker.enqueue.producer import PinSpec, Producer
from worker.errors import (
    AbuseLimitError,
    GuardBlockedError,
    NumberTypeRefusedError,
    QuotaExceededError,
    StoreUnavailableError,
)
from worker.guard import keys as k
from worker.guard.admin import allow
from worker.guard.conversions import count_conversion
from worker.guard.headroom import headroom
from worker.states import State
from worker.worker_app import create_app

US, CA = "16365553226", "14165551234"
PFX = "1636555"


def number(i: int, stem: str = PFX) -> str:
    return f"{stem}{i:04d}"


class Clock:
    """The guard's clock (``time`` as worker/guard/decide.py sees it), ``offset`` seconds ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    gmtime = staticmethod(time.gmtime)
    strftime = staticmethod(time.strftime)

    def time(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(decide_module, "time", fake)
    return fake


@pytest.fixture
def app(settings: Settings) -> Iterator[Celery]:
    celery = create_app(settings)
    yield celery
    celery.close()


@pytest.fixture
def make(settings: Settings, app: Celery, redis_client: redis.Redis) -> Any:
    """``make(**overrides)``: a Producer on the test's settings with ``overrides``."""

    def build(**overrides: Any) -> Producer:
        return Producer(settings.replace(**overrides), app, redis_client)

    return build


def guard_keys(client: redis.Redis, settings: Settings) -> dict[str, str]:
    """Every ``guard:*`` key of the test -> its type."""
    prefix = settings.key_prefix
    return {key.decode()[len(prefix):]: client.type(key).decode()
            for key in client.scan_iter(match=f"{prefix}guard:*", count=1000)}


def records(client: redis.Redis, settings: Settings) -> int:
    return sum(1 for _ in client.scan_iter(match=f"{settings.key_prefix}{c.KEY_RECORD}*", count=1000))


def stats(client: redis.Redis, settings: Settings) -> dict[str, int]:
    raw: Any = client.hgetall(f"{settings.key_prefix}{c.KEY_STATS}")
    return {key.decode(): int(value) for key, value in raw.items() if key.startswith(b"guard:")}


def counter(client: redis.Redis, settings: Settings, name: str) -> float:
    value: Any = client.get(settings.key_prefix + name)
    return 0.0 if value is None else float(value)


def hour_key(origin: str = k.DEFAULT_ORIGIN) -> str:
    return f"{k.KEY_QUOTA_KEY_HOUR}{origin}:{k.hour_slot(time.time())}"


def state(client: redis.Redis, settings: Settings) -> tuple[dict[str, Any], int, int]:
    """What a refusal must leave unchanged: every guard key's value, the records, the queue."""
    values: dict[str, Any] = {}
    for name, kind in guard_keys(client, settings).items():
        key = settings.key_prefix + name
        values[name] = {"string": client.get, "hash": client.hgetall, "set": client.smembers,
                        "zset": lambda n: client.zrange(n, 0, -1, withscores=True)}[kind](key)
    return values, records(client, settings), int(client.llen(settings.queue))


# --- quotas and caps: each refuses at its exact count ------------------------------------------

QUOTAS: list[tuple[str, dict[str, Any], int, str]] = [
    ("key_hourly", {"key_hourly_quota": 3}, 3, "PINRELAY_KEY_HOURLY_QUOTA"),
    ("key_daily", {"key_daily_quota": 2}, 2, "PINRELAY_KEY_DAILY_QUOTA"),
    ("country_hourly", {"country_hourly_cap": ("US=4", "*=1")}, 4, "PINRELAY_COUNTRY_HOURLY_CAP"),
    ("country_burst", {"country_burst_10min": ("US=3",)}, 3, "PINRELAY_COUNTRY_BURST_10MIN"),
    ("spend_cap", {"daily_spend_cap": 2.0, "price_estimates": ("US=1", "*=5")}, 2,
     "PINRELAY_DAILY_SPEND_CAP"),
]


@pytest.mark.parametrize(("rule", "overrides", "allowed", "setting"), QUOTAS, ids=[q[0] for q in QUOTAS])
def test_each_quota_refuses_at_its_exact_count_and_the_refusal_counts_nothing(
        make: Any, redis_client: redis.Redis, settings: Settings, rule: str, overrides: dict[str, Any],
        allowed: int, setting: str) -> None:
    producer = make(**overrides)
    for i in range(allowed):
        producer.send_pin(number(i), "1234")
    before = state(redis_client, settings)
    with pytest.raises(QuotaExceededError) as info:
        producer.send_pin(number(allowed), "1234")
    error = info.value
    assert error.limit == rule and error.code == "quota_exceeded" and error.http_status == 429
    assert setting in str(error) and number(allowed) not in str(error)
    assert error.retry_after_s is not None and 0 < error.retry_after_s <= 86400
    assert state(redis_client, settings) == before  # no record, no task, no counter moved
    assert stats(redis_client, settings) == {f"guard:{rule}:enforce": 1}
    with pytest.raises(QuotaExceededError):  # and it stays refused: the refusal freed nothing
        producer.send_pin(number(allowed + 1), "1234")
    assert stats(redis_client, settings) == {f"guard:{rule}:enforce": 2}


def test_the_quotas_are_per_origin(make: Any, redis_client: redis.Redis, settings: Settings) -> None:
    producer = make(key_hourly_quota=2)
    for _ in range(2):
        producer.send_pin(number(1), "1234", origin="key_a")
    with pytest.raises(QuotaExceededError, match="hourly quota"):
        producer.send_pin(number(2), "1234", origin="key_a")
    producer.send_pin(number(2), "1234", origin="key_b")
    producer.send_pin(number(3), "1234")  # the producer's own origin (PINRELAY_PRODUCER_ID)
    assert counter(redis_client, settings, hour_key("key_a")) == 2
    assert counter(redis_client, settings, hour_key("key_b")) == 1
    assert counter(redis_client, settings, hour_key()) == 1
    origins: Any = redis_client.smembers(f"{settings.key_prefix}{k.KEY_ORIGINS}{k.day_slot(time.time())}")
    assert origins == {b"key_a", b"key_b", b"producer"}


def test_the_country_cap_of_an_unlisted_country_is_the_star(make: Any) -> None:
    producer = make(country_hourly_cap=("US=4", "*=1"))
    producer.send_pin(CA, "1234")
    with pytest.raises(QuotaExceededError) as info:
        producer.send_pin("14165551235", "1234")
    assert info.value.limit == "country_hourly" and "1 sends to CA per hour" in str(info.value)
    producer.send_pin(US, "1234")  # the US has its own cap


def test_the_spend_cap_counts_each_country_at_its_estimate(make: Any, redis_client: redis.Redis,
                                                           settings: Settings) -> None:
    producer = make(daily_spend_cap=1.0, price_estimates=("US=0.25", "*=0.5"))
    producer.send_pin(CA, "1234")  # 0.5
    producer.send_pin(US, "1234")  # 0.75
    producer.send_pin(US, "1234")  # 1.0: not above the cap
    with pytest.raises(QuotaExceededError) as info:
        producer.send_pin(US, "1234")
    assert info.value.limit == "spend_cap" and "00:00 UTC" in str(info.value)
    assert counter(redis_client, settings, k.KEY_SPEND + k.day_slot(time.time())) == pytest.approx(1.0)


def test_an_origin_sends_at_its_share_of_the_rate(make: Any, redis_client: redis.Redis,
                                                  settings: Settings) -> None:
    """0.5 of 1/s: one send every 2 s, 2 s of tolerance: two at once, then refused until one is due."""
    producer = make(rate_limit_per_s=1.0, key_send_share=0.5)
    producer.send_pin(number(1), "1234", origin="key_a")
    producer.send_pin(number(2), "1234", origin="key_a")
    before = state(redis_client, settings)
    with pytest.raises(QuotaExceededError) as info:
        producer.send_pin(number(3), "1234", origin="key_a")
    error = info.value
    assert error.limit == "key_send_share" and error.window_s is None
    assert error.retry_after_s is not None and 1.0 < error.retry_after_s <= 2.0
    assert "PINRELAY_KEY_SEND_SHARE" in str(error)
    assert state(redis_client, settings) == before
    producer.send_pin(number(3), "1234", origin="key_b")  # another origin has its own share


def test_the_send_task_path_counts_through_the_guard(settings: Settings, redis_client: redis.Redis) -> None:
    """:meth:`AbuseGuard.check` (the ``send_task`` path) counts the producer's quotas and refuses."""
    guard = AbuseGuard(settings.replace(key_hourly_quota=2), redis_client)
    guard.check(US, country="US")
    guard.check(US, country="US")
    with pytest.raises(QuotaExceededError) as info:
        guard.check(US, country="US")
    assert info.value.limit == "key_hourly"
    assert counter(redis_client, settings, hour_key()) == 2
    assert records(redis_client, settings) == 0


def test_an_idempotent_repeat_counts_nothing(make: Any, redis_client: redis.Redis, settings: Settings,
                                             clock: Clock) -> None:
    producer = make(key_hourly_quota=2, daily_spend_cap=5.0, price_estimates=("US=1",))
    first = producer.send_pin(number(1), "1234", idempotency_key="order-1", expect_conversion=True)
    for _ in range(3):
        assert producer.send_pin(number(1), "1234", idempotency_key="order-1",
                                 expect_conversion=True) == first
    assert counter(redis_client, settings, hour_key()) == 1
    assert counter(redis_client, settings, k.KEY_SPEND + k.day_slot(time.time())) == 1.0
    assert redis_client.zcard(f"{settings.key_prefix}{k.KEY_PREFIX_SENDS}{PFX}") == 1
    producer.send_pin(number(2), "1234")
    with pytest.raises(QuotaExceededError):
        producer.send_pin(number(3), "1234")
    # a repeat of an earlier send still answers its id once the quota is used up
    assert producer.send_pin(number(1), "1234", idempotency_key="order-1") == first


def test_a_refused_batch_names_the_item_and_stores_nothing(make: Any, redis_client: redis.Redis,
                                                           settings: Settings) -> None:
    producer = make(key_hourly_quota=3)
    with pytest.raises(QuotaExceededError) as info:
        producer.send_pins([PinSpec(number(i), "1234") for i in range(5)])
    assert info.value.field == "item 3 to" and info.value.limit == "key_hourly"
    assert str(info.value).startswith("item 3 to: ")
    assert records(redis_client, settings) == 0 and redis_client.llen(settings.queue) == 0
    # a refused batch spends no quota: the items before the refused one were not sent either
    assert counter(redis_client, settings, hour_key()) == 0
    producer.send_pins([PinSpec(number(i), "1234") for i in range(3)])  # the whole quota is still there
    assert counter(redis_client, settings, hour_key()) == 3


def test_a_refused_batch_names_the_premium_rate_item(make: Any, redis_client: redis.Redis,
                                                     settings: Settings) -> None:
    with pytest.raises(NumberTypeRefusedError) as info:
        make().send_pins([PinSpec(US, "1234"), PinSpec("19005551234", "1234")])
    assert info.value.field == "item 1 to" and info.value.number_type == "premium_rate"
    assert records(redis_client, settings) == 0 and guard_keys(redis_client, settings) == {}


def test_a_number_type_refusal_stores_and_counts_nothing(make: Any, redis_client: redis.Redis,
                                                         settings: Settings) -> None:
    producer = make(key_hourly_quota=5)
    for to, kind in (("19005551234", "premium_rate"), ("18775551234", "toll_free")):
        with pytest.raises(NumberTypeRefusedError) as info:
            producer.send_pin(to, "1234")
        assert info.value.number_type == kind
    assert records(redis_client, settings) == 0 and guard_keys(redis_client, settings) == {}
    toll_free = make(number_types=("mobile", "fixed_line_or_mobile", "toll_free"))
    toll_free.send_pin("18775551234", "1234")  # listed: allowed
    assert records(redis_client, settings) == 1


# --- the prefix guard ---------------------------------------------------------------------------

PREFIX_GUARD = {"guard_min_sends": 5, "guard_min_conversion": 0.3, "guard_grace_s": 5,
                "guard_window_s": 600, "guard_block_s": 900}


def judged_sends(producer: Producer, count: int, stem: str = PFX, first: int = 0) -> list[str]:
    return [producer.send_pin(number(first + i, stem), "1234", expect_conversion=True) for i in range(count)]


def test_a_prefix_is_blocked_once_enough_judged_sends_are_older_than_the_grace(
        make: Any, redis_client: redis.Redis, settings: Settings, clock: Clock) -> None:
    producer = make(guard_mode="enforce", **PREFIX_GUARD)
    judged_sends(producer, 4)
    clock.offset = 10  # the four are past the grace: judged, unconverted
    judged_sends(producer, 2, first=4)  # five in the window, but only four of them judged yet
    assert not redis_client.exists(f"{settings.key_prefix}{k.KEY_BLOCK}{PFX}")
    clock.offset = 20  # now six are judged
    with capture_logs() as logs:
        judged_sends(producer, 1, first=6)  # this one is admitted; the block is made with it
    assert [e for e in logs if e["event"] == "guard_block"] == [
        {"event": "guard_block", "prefix": PFX, "judged_sends": 6, "conversions": 0, "mode": "enforce",
         "log_level": "warning"}]
    block: Any = redis_client.hgetall(f"{settings.key_prefix}{k.KEY_BLOCK}{PFX}")
    assert (block[b"sends"], block[b"conversions"]) == (b"6", b"0")
    assert int(block[b"until"]) - int(block[b"since"]) == 900_000
    assert 0 < redis_client.pttl(f"{settings.key_prefix}{k.KEY_BLOCK}{PFX}") <= 900_000
    assert redis_client.zscore(f"{settings.key_prefix}{k.KEY_BLOCKED}", PFX) == float(block[b"until"])

    before = state(redis_client, settings)
    for to, expect in ((number(99), False), (number(98), True)):  # judged or not: the prefix is paused
        with pytest.raises(GuardBlockedError) as info:
            producer.send_pin(to, "1234", expect_conversion=expect)
        assert info.value.limit == "prefix_blocked" and isinstance(info.value, AbuseLimitError)
        assert info.value.retry_after_s is not None and 890 < info.value.retry_after_s <= 900
        assert "pinrelay guard unblock" in str(info.value) and to not in str(info.value)
    assert state(redis_client, settings) == before
    assert stats(redis_client, settings)["guard:prefix_blocked:enforce"] == 2
    assert stats(redis_client, settings)["guard:blocks:enforce"] == 1
    producer.send_pin(number(1, "1636556"), "1234", expect_conversion=True)  # the next prefix is not


def test_conversions_keep_a_prefix_open(make: Any, redis_client: redis.Redis, settings: Settings,
                                        clock: Clock) -> None:
    """Two of six converted (0.33 >= 0.3): open; the same with one (0.17): blocked."""
    producer = make(guard_mode="enforce", **PREFIX_GUARD)
    for stem, converting in (("1636555", 2), ("1415555", 1)):
        ids = judged_sends(producer, 6, stem)
        for rid in ids[:converting]:
            assert count_conversion(redis_client, settings.replace(**PREFIX_GUARD), rid)
    clock.offset = 10
    judged_sends(producer, 1, "1636555", first=50)
    judged_sends(producer, 1, "1415555", first=50)
    blocked: Any = redis_client.zrange(f"{settings.key_prefix}{k.KEY_BLOCKED}", 0, -1)
    assert blocked == [b"1415555"]
    assert stats(redis_client, settings)["guard:converted:US"] == 3
    assert stats(redis_client, settings)["guard:sent:US"] == 14


def test_a_conversion_counts_once_and_only_for_a_judged_send_in_the_window(
        make: Any, redis_client: redis.Redis, settings: Settings) -> None:
    guarded = settings.replace(**PREFIX_GUARD)
    producer = make(guard_mode="enforce", **PREFIX_GUARD)
    judged = producer.send_pin(US, "1234", expect_conversion=True)
    plain = producer.send_pin("16365553227", "1234")  # not judged (PINRELAY_GUARD_CONVERSIONS=verify)
    conv = f"{settings.key_prefix}{k.KEY_PREFIX_CONVERSIONS}{PFX}"
    assert count_conversion(redis_client, guarded, judged) is True
    assert count_conversion(redis_client, guarded, judged) is False  # a second report
    assert count_conversion(redis_client, guarded, plain) is False
    assert count_conversion(redis_client, guarded, "0" * 32) is False  # unknown id
    assert redis_client.zcard(conv) == 1
    assert 0 < redis_client.pttl(conv) <= 600_000
    late = producer.send_pin("16365553228", "1234", expect_conversion=True)
    assert count_conversion(redis_client, guarded, late, now=time.time() + 601) is False  # out of the window
    assert redis_client.zcard(conv) == 1
    assert stats(redis_client, settings)["guard:converted:US"] == 1


def test_report_conversion_counts_at_once_without_a_worker(
        make: Any, redis_client: redis.Redis, settings: Settings) -> None:
    """Producer.report_conversion counts the conversion when it enqueues the report: no callbacks
    worker has to run for an honest prefix to show its conversions; undelivered counts nothing."""
    producer = make(guard_mode="enforce", **PREFIX_GUARD)
    used, unused = (producer.send_pin(number(i), "1234", expect_conversion=True) for i in range(2))
    producer.report_conversion(used, delivered=True)
    producer.report_conversion(unused, delivered=False)
    conv = f"{settings.key_prefix}{k.KEY_PREFIX_CONVERSIONS}{PFX}"
    assert [m.decode() for m in redis_client.zrange(conv, 0, -1)] == [used]
    assert stats(redis_client, settings)["guard:converted:US"] == 1


def test_monitor_mode_refuses_nothing_and_lists_what_it_would_block(
        make: Any, redis_client: redis.Redis, settings: Settings, clock: Clock) -> None:
    producer = make(guard_mode="monitor", **PREFIX_GUARD)
    judged_sends(producer, 5)
    clock.offset = 10
    with capture_logs() as logs:
        judged_sends(producer, 1, first=5)
    assert [e["event"] for e in logs if e["event"].startswith("guard_")] == ["guard_would_block"]
    judged_sends(producer, 3, first=6)  # enforce would refuse these: monitor counts them
    assert not redis_client.exists(f"{settings.key_prefix}{k.KEY_BLOCK}{PFX}")
    assert not redis_client.exists(f"{settings.key_prefix}{k.KEY_BLOCKED}")
    assert redis_client.hget(f"{settings.key_prefix}{k.KEY_WOULD_BLOCK}{PFX}", "sends") == b"5"
    assert redis_client.zrange(f"{settings.key_prefix}{k.KEY_WOULD_BLOCKED}", 0, -1) == [PFX.encode()]
    counted = stats(redis_client, settings)
    assert counted["guard:prefix_would_block:monitor"] == 1 and counted["guard:prefix_blocked:monitor"] == 3
    assert records(redis_client, settings) == 9


def test_off_judges_nothing(make: Any, redis_client: redis.Redis, settings: Settings, clock: Clock) -> None:
    producer = make(guard_mode="off", **PREFIX_GUARD)
    judged_sends(producer, 6)
    clock.offset = 10
    judged_sends(producer, 3, first=6)
    assert [name for name in guard_keys(redis_client, settings) if name.startswith(("guard:pfx",
            "guard:block", "guard:wouldblock"))] == []
    assert records(redis_client, settings) == 9


@pytest.mark.parametrize("how", ["configured_prefix", "configured_number", "runtime_prefix",
                                 "runtime_number"])
def test_a_safe_entry_is_never_blocked(make: Any, redis_client: redis.Redis, settings: Settings,
                                       clock: Clock, how: str) -> None:
    entry = PFX if how.endswith("prefix") else number(0)
    configured = (entry,) if how.startswith("configured") else ()
    if how.startswith("runtime"):
        allow(redis_client, settings.key_prefix, entry)
    producer = make(guard_mode="enforce", guard_safe=configured, **PREFIX_GUARD)
    producer.send_pin(number(0), "1234", expect_conversion=True)
    judged_sends(producer, 5, first=1)
    clock.offset = 10
    producer.send_pin(number(0), "1234", expect_conversion=True)  # the safe one judges the prefix
    blocked = bool(redis_client.exists(f"{settings.key_prefix}{k.KEY_BLOCK}{PFX}"))
    if how.endswith("prefix"):
        assert not blocked
        judged_sends(producer, 3, first=6)  # and no other number of a safe prefix blocks it
        assert not redis_client.exists(f"{settings.key_prefix}{k.KEY_BLOCK}{PFX}")
    else:  # a safe number does not shield the rest of its range; it passes the block itself
        assert blocked
        with pytest.raises(GuardBlockedError):
            producer.send_pin(number(7), "1234")
        producer.send_pin(number(0), "1234")


def test_a_safe_number_passes_a_blocked_prefix(make: Any, redis_client: redis.Redis, settings: Settings,
                                               clock: Clock) -> None:
    producer = make(guard_mode="enforce", **PREFIX_GUARD)
    judged_sends(producer, 5)
    clock.offset = 10
    judged_sends(producer, 1, first=5)
    with pytest.raises(GuardBlockedError):
        producer.send_pin(number(42), "1234")
    allow(redis_client, settings.key_prefix, number(42))
    producer.send_pin(number(42), "1234")
    with pytest.raises(GuardBlockedError):
        producer.send_pin(number(43), "1234")
    configured = make(guard_mode="enforce", guard_safe=(number(43),), **PREFIX_GUARD)
    configured.send_pin(number(43), "1234")


def test_judge_all_sends_with_guard_conversions_all(make: Any, redis_client: redis.Redis,
                                                    settings: Settings, clock: Clock) -> None:
    producer = make(guard_mode="enforce", guard_conversions="all", **PREFIX_GUARD)
    for i in range(5):
        producer.send_pin(number(i), "1234")  # no expect_conversion: judged all the same
    clock.offset = 10
    producer.send_pin(number(5), "1234")
    assert redis_client.exists(f"{settings.key_prefix}{k.KEY_BLOCK}{PFX}")


# --- the spend settles at the provider's price ---------------------------------------------------

def test_the_providers_price_replaces_the_estimate_once(make: Any, redis_client: redis.Redis,
                                                        settings: Settings) -> None:
    producer = make(daily_spend_cap=1.0, price_estimates=("US=0.4",))
    spend = k.KEY_SPEND + k.day_slot(time.time())
    first = producer.send_pin(US, "1234")
    second = producer.send_pin("16365553227", "1234")
    assert counter(redis_client, settings, spend) == pytest.approx(0.8)
    with pytest.raises(QuotaExceededError):
        producer.send_pin("16365553228", "1234")  # 1.2 > 1.0
    producer.store.finish(first, State.SUBMITTED, message_id="m-1", fields={"price": "0.05"})
    assert counter(redis_client, settings, spend) == pytest.approx(0.45)
    assert redis_client.hget(f"{settings.key_prefix}{c.KEY_RECORD}{first}", "price_settled") == b"1"
    producer.store.finish(first, State.DELIVERED, fields={"price": "0.30"})  # a receipt's price: once only
    assert counter(redis_client, settings, spend) == pytest.approx(0.45)
    producer.send_pin("16365553228", "1234")  # 0.85: under the cap again
    producer.store.finish(second, State.SUBMITTED, message_id="m-2", fields={"price": "0.9"})
    assert counter(redis_client, settings, spend) == pytest.approx(1.35)
    with pytest.raises(QuotaExceededError):
        producer.send_pin("16365553229", "1234")


# --- every key the guard writes expires -----------------------------------------------------------

def test_every_guard_key_has_a_ttl(make: Any, redis_client: redis.Redis, settings: Settings,
                                   clock: Clock) -> None:
    producer = make(guard_mode="enforce", key_hourly_quota=20, key_daily_quota=100,
                    country_hourly_cap=("*=100",), country_burst_10min=("*=100",), daily_spend_cap=100.0,
                    price_estimates=("*=1",), rate_limit_per_s=1000.0, **PREFIX_GUARD)
    ids = judged_sends(producer, 6) + judged_sends(producer, 6, "1415555")
    producer.send_pin(number(90), "1234", origin="key_a")  # an API key's send is paced: guard:share:
    count_conversion(redis_client, settings.replace(**PREFIX_GUARD), ids[-1])
    producer.store.finish(ids[0], State.SUBMITTED, message_id="m-1", fields={"price": "0.5"})
    clock.offset = 10
    judged_sends(producer, 1, first=50)
    allow(redis_client, settings.key_prefix, "1212555")
    monitor = make(guard_mode="monitor", **PREFIX_GUARD)
    judged_sends(monitor, 6, "1604555")
    clock.offset = 20
    judged_sends(monitor, 1, "1604555", first=50)
    written = guard_keys(redis_client, settings)
    capped = {k.KEY_BLOCKED, k.KEY_WOULD_BLOCKED, k.KEY_SAFE}
    expected = {k.KEY_QUOTA_KEY_HOUR, k.KEY_QUOTA_KEY_DAY, k.KEY_QUOTA_COUNTRY_HOUR,
                k.KEY_QUOTA_COUNTRY_BURST, k.KEY_SPEND, k.KEY_SHARE, k.KEY_PREFIX_SENDS,
                k.KEY_PREFIX_CONVERSIONS, k.KEY_BLOCK, k.KEY_WOULD_BLOCK, k.KEY_PEAK, k.KEY_ORIGINS, *capped}
    assert {next(e for e in sorted(expected, key=len, reverse=True) if name.startswith(e))
            for name in written} == expected, sorted(written)
    without_ttl = {name: redis_client.pttl(settings.key_prefix + name) for name in written
                   if name not in capped and redis_client.pttl(settings.key_prefix + name) <= 0}
    assert without_ttl == {}


def test_the_store_step_notes_peaks_that_doctor_warns_about(make: Any, redis_client: redis.Redis,
                                                            settings: Settings) -> None:
    """Sends that bring a quota to 80 % of its limit leave the peak `pinrelay doctor` reads: its
    warning names the setting; under one half nothing is noted."""
    producer = make(key_hourly_quota=10)
    for i in range(4):
        producer.send_pin(number(i), "1234")
    assert headroom(redis_client, producer.settings)[0] is False  # 40 %: not even noted
    for i in range(4, 8):
        producer.send_pin(number(i), "1234")
    warn, detail = headroom(redis_client, producer.settings)
    assert warn is True and "key_hourly reached 80%" in detail
    assert "PINRELAY_KEY_HOURLY_QUOTA (now 10)" in detail


def test_the_share_paces_api_keys_and_not_the_operators_own_producer(
        make: Any, redis_client: redis.Redis, settings: Settings) -> None:
    """A bulk batch of the Python API (PINRELAY_PRODUCER_ID) is bounded by the quotas, not paced;
    an API key's sends are paced at its share (30/s x 0.5, a 2 s burst)."""
    producer = make(rate_limit_per_s=30.0)
    assert len(producer.send_pins([PinSpec(number(i), "1234") for i in range(100)])) == 100
    with pytest.raises(QuotaExceededError) as info:
        for i in range(100, 200):
            producer.send_pin(number(i, "1415555"), "1234", origin="key_a")
    assert info.value.limit == "key_send_share" and 0 < (info.value.retry_after_s or 0) < 1


def test_only_the_prefix_guard_fails_open(make: Any, redis_client: redis.Redis, settings: Settings) -> None:
    """Unreadable prefix-guard data: the send goes ahead, counted and logged; unreadable quota data:
    the send is refused as a store failure (the quotas never fail open)."""
    producer = make(guard_mode="enforce", key_hourly_quota=10)
    redis_client.set(f"{settings.key_prefix}{k.KEY_SAFE}", "not a set")  # SMISMEMBER: WRONGTYPE
    redis_client.hset(f"{settings.key_prefix}{k.KEY_BLOCK}{PFX}", mapping={"since": 1, "until": 2})
    with capture_logs() as logs:
        assert producer.send_pin(number(1), "1234")  # blocked, but the safe list cannot be read
    assert stats(redis_client, settings)["guard:fail_open:enforce"] == 1
    assert [e["event"] for e in logs if e["event"].startswith("guard_")] == ["guard_fail_open"]
    assert counter(redis_client, settings, hour_key()) == 1  # the quota still counted it
    redis_client.delete(settings.key_prefix + hour_key())
    redis_client.hset(settings.key_prefix + hour_key(), "x", "1")  # WRONGTYPE for the quota counter
    with pytest.raises(StoreUnavailableError):
        producer.send_pin(number(2), "1234")
