"""Abuse limits at enqueue, against a real Redis."""

from __future__ import annotations

import pytest
import redis

from worker.config import Settings
from worker.enqueue.abuse import AbuseGuard
from worker.errors import AbuseLimitError


def test_per_number_limit_refuses_the_fourth_send(settings: Settings, redis_client: redis.Redis) -> None:
    """At most N sends per number per 10 minutes; the next is refused with the limit named."""
    guard = AbuseGuard(settings.replace(per_number_10min=3), redis_client)
    for _ in range(3):
        guard.check("16365553226")
    with pytest.raises(AbuseLimitError) as info:
        guard.check("16365553226")
    assert info.value.limit == "number_10min"
    guard.check("16365553227")  # another number is unaffected


def test_per_prefix_burst_limit(settings: Settings, redis_client: redis.Redis) -> None:
    """Many numbers in one NPA-NXX within a minute trip the prefix limit (SMS pumping)."""
    guard = AbuseGuard(settings.replace(per_prefix_minute=5), redis_client)
    for i in range(5):
        guard.check(f"163655500{i:02d}")
    with pytest.raises(AbuseLimitError) as info:
        guard.check("16365550099")
    assert info.value.limit == "prefix_minute"
    guard.check("12125550100")


def test_denylist_refuses_numbers_and_prefixes(settings: Settings, redis_client: redis.Redis) -> None:
    """A denied number or prefix is refused, and refusals are counted."""
    guard = AbuseGuard(settings, redis_client)
    guard.deny("16365553226", "1212555")
    for number in ("16365553226", "12125550123"):
        with pytest.raises(AbuseLimitError) as info:
            guard.check(number)
        assert info.value.limit == "denylist"
    guard.check("16365553227")
    stats = redis_client.hgetall(f"{settings.key_prefix}stats")
    assert stats[b"refused_denylist"] == b"2"


def test_refusal_says_when_to_retry(settings: Settings, redis_client: redis.Redis) -> None:
    """A window limit carries its window and the seconds until a counted send leaves it."""
    guard = AbuseGuard(settings.replace(per_number_10min=2), redis_client)
    guard.check("16365553226")
    guard.check("16365553226")
    with pytest.raises(AbuseLimitError) as info:
        guard.check("16365553226")
    assert info.value.window_s == 600
    assert info.value.retry_after_s is not None and 590 < info.value.retry_after_s <= 600
    assert info.value.retry_hint().startswith("retry in 9m") or info.value.retry_hint() == "retry in 10m00s"


def test_denylist_refusal_has_no_retry_time(settings: Settings, redis_client: redis.Redis) -> None:
    """Waiting does not lift the denylist, and the hint says so."""
    guard = AbuseGuard(settings, redis_client)
    guard.deny("16365553226")
    with pytest.raises(AbuseLimitError) as info:
        guard.check("16365553226")
    assert info.value.retry_after_s is None and "denylist" in info.value.retry_hint()


FULLWIDTH = "".join(chr(0xFF10 + int(d)) for d in "16365553226")
ARABIC_INDIC = "".join(chr(0x0660 + int(d)) for d in "16365553226")


@pytest.mark.parametrize("spelling", [FULLWIDTH, ARABIC_INDIC, "+16365553226", "+" + FULLWIDTH])
def test_limits_and_denylist_key_on_the_e164_form(spelling: str, settings: Settings,
                                                   redis_client: redis.Redis) -> None:
    """Another spelling of a denied or counted number meets the same denylist entry and window."""
    guard = AbuseGuard(settings.replace(per_number_10min=1), redis_client)
    guard.deny("+1" + "".join(chr(0xFF10 + int(d)) for d in "2125550100"))  # stored as 12125550100
    with pytest.raises(AbuseLimitError, match="denylist"):
        guard.check("12125550100")
    guard.check("16365553226")
    with pytest.raises(AbuseLimitError) as info:
        guard.check(spelling)
    assert info.value.limit == "number_10min"


def test_batch_refusal_names_the_item(settings: Settings, redis_client: redis.Redis) -> None:
    """check_many names the index of the refused number in the batch."""
    guard = AbuseGuard(settings, redis_client)
    guard.deny("16365553227")
    with pytest.raises(AbuseLimitError, match=r"^item 2 to: ") as info:
        guard.check_many(["16365553225", "16365553226", "16365553227"])
    assert info.value.limit == "denylist"
