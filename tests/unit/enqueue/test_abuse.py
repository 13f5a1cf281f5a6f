"""Abuse limits at enqueue, against a real Redis."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis

from worker.config import Settings
from worker.enqueue.abuse import AbuseGuard
from worker.errors import AbuseLimitError


def test_per_number_limit_refuses_the_fourth_send(settings: Settings, redis_client: redis.Redis) -> None:
    """At most N sends per number per 10 minutes; the next is refused with the limit named."""
    guard = AbuseGuard(replace(settings, per_number_10min=3), redis_client)
    for _ in range(3):
        guard.check("16365553226")
    with pytest.raises(AbuseLimitError) as info:
        guard.check("16365553226")
    assert info.value.limit == "number_10min"
    guard.check("16365553227")  # another number is unaffected


def test_per_prefix_burst_limit(settings: Settings, redis_client: redis.Redis) -> None:
    """Many numbers in one NPA-NXX within a minute trip the prefix limit (SMS pumping)."""
    guard = AbuseGuard(replace(settings, per_prefix_minute=5), redis_client)
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
