"""What `pinrelay guard status` reads, and what unblock/allow change, against a real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from tests.support import guard as g
from worker.config import Settings
from worker.errors import ValidationError
from worker.guard import keys as k
from worker.guard.admin import NotListedError, allow, clean_entry, disallow, unblock
from worker.guard.limits import Limits, ratio
from worker.guard.status import blocks, guard_status, peaks, quota_use, seconds

LIMITS = Limits(mode="monitor", key_hourly=100, key_daily=1000, country_hourly={"US": 50, "*": 10},
                country_burst={"*": 5}, spend_cap=20.0, safe=("16365553226",), regions=("US", "CA"))


def test_blocks_in_force_are_listed_with_their_figures_newest_first(redis_client: redis.Redis,
                                                                   settings: Settings) -> None:
    prefix = settings.key_prefix
    g.write_block(redis_client, prefix, "1636555", since=time.time() - 60, sends=25, conversions=3)
    g.write_block(redis_client, prefix, "1415555", since=time.time() - 10)
    g.write_block(redis_client, prefix, "1212555", since=time.time() - 7200, block_s=3600)  # over
    g.write_block(redis_client, prefix, "1604555", monitor=True)
    listed = blocks(redis_client, prefix)
    assert [b["prefix"] for b in listed] == ["1415555", "1636555"]
    assert listed[1] | {"since": None, "until": None} == {
        "prefix": "1636555", "since": None, "until": None, "sends": 25, "conversions": 3}
    assert listed[1]["since"].endswith("+00:00") and listed[1]["since"] < listed[1]["until"]
    assert [b["prefix"] for b in blocks(redis_client, prefix, monitor=True)] == ["1604555"]


def test_times_written_in_seconds_or_milliseconds_read_the_same() -> None:
    assert seconds(b"1765000000") == seconds(b"1765000000000") == 1765000000.0
    assert seconds(None) is None and seconds(b"x") is None


def test_quota_use_counts_this_window_per_origin_and_country(redis_client: redis.Redis,
                                                            settings: Settings) -> None:
    prefix, now = settings.key_prefix, time.time()
    g.count_sends(redis_client, prefix, origin="key_a", country="US", n=40, at=now)
    g.count_sends(redis_client, prefix, origin="key_b", country="CA", n=4, at=now)
    g.count_sends(redis_client, prefix, origin="key_a", country="US", n=99, at=now - 2 * 86400)  # old
    g.spend(redis_client, prefix, 5.5, at=now)
    use = quota_use(redis_client, prefix, LIMITS, now)
    assert use["key_hourly"]["use"] == [
        {"origin": "key_a", "count": 40, "limit": 100, "ratio": 0.4},
        {"origin": "key_b", "count": 4, "limit": 100, "ratio": 0.04}]
    assert use["key_hourly"]["max_ratio"] == 0.4
    assert use["key_hourly"]["setting"] == "PINRELAY_KEY_HOURLY_QUOTA"
    assert use["key_daily"]["window"] == k.day_slot(now) and use["key_daily"]["max_ratio"] == 0.04
    assert {r["country"]: (r["limit"], r["ratio"]) for r in use["country_hourly"]["use"]} == {
        "US": (50, 0.8), "CA": (10, 0.4)}
    assert use["country_burst"]["max_ratio"] == 8.0 and use["country_burst"]["window"] == k.burst_slot(now)
    assert use["spend_cap"] | {"setting": None} == {"setting": None, "window": k.day_slot(now), "spent": 5.5,
                                                    "cap": 20.0, "ratio": 0.275, "max_ratio": 0.275}


def test_quota_use_reads_only_the_counters_it_can_name(redis_client: redis.Redis,
                                                      settings: Settings) -> None:
    """No SCAN (the API's Redis role has none): origins from this day's ``guard:origins:<day>``,
    countries from the limits (allowed regions, capped countries). A counter of an origin not in
    that set, or of a country neither allowed nor capped, is not read."""
    prefix, now = settings.key_prefix, time.time()
    g.count_sends(redis_client, prefix, origin="key_a", country="US", n=3, at=now)
    g.count_sends(redis_client, prefix, origin="key_b", country="GB", n=7, at=now)
    redis_client.srem(prefix + k.KEY_ORIGINS + k.day_slot(now), "key_b")
    use = quota_use(redis_client, prefix, LIMITS, now)
    assert [r["origin"] for r in use["key_hourly"]["use"]] == ["key_a"]
    assert [r["origin"] for r in use["key_daily"]["use"]] == ["key_a"]
    assert [r["country"] for r in use["country_hourly"]["use"]] == ["US"]
    assert [r["country"] for r in use["country_burst"]["use"]] == ["US"]
    capped = Limits(country_hourly={"GB": 5}, regions=("US",))
    assert capped.countries() == ("GB", "US")
    assert {r["country"]: r["ratio"] for r in quota_use(redis_client, prefix, capped, now)[
        "country_hourly"]["use"]} == {"GB": 1.4, "US": None}


def test_a_limit_that_is_off_has_no_ratio() -> None:
    assert ratio(5, 0) is None and ratio(5, 10) == 0.5


def test_status_has_mode_lists_safe_entries_and_peaks(redis_client: redis.Redis, settings: Settings) -> None:
    prefix = settings.key_prefix
    allow(redis_client, prefix, "1636555")
    g.peak(redis_client, prefix, "key_hourly", 0.62, at=time.time() - 3 * 3600)
    g.peak(redis_client, prefix, "key_hourly", 0.91)
    g.peak(redis_client, prefix, "spend_cap", 0.7, at=time.time() - 30 * 3600)  # older than 24 h
    status = guard_status(redis_client, prefix, LIMITS)
    assert status["mode"] == "monitor" and status["blocked"] == [] and status["would_block"] == []
    assert status["safe"] == {"runtime": ["1636555"], "configured": ["16365553226"]}
    assert status["peaks_24h"] == {"key_hourly": 0.91}
    assert peaks(redis_client, prefix, hours=1) == {"key_hourly": 0.91}
    assert set(status["quotas"]) == set(k.QUOTAS)


def test_unblock_lifts_the_block_and_starts_the_window_afresh(redis_client: redis.Redis,
                                                              settings: Settings) -> None:
    prefix = settings.key_prefix
    g.write_block(redis_client, prefix, "1636555", sends=30, conversions=1)
    g.write_window(redis_client, prefix, "1636555", sends=30, conversions=1)
    lifted = unblock(redis_client, prefix, "1636555")
    assert lifted["was"] == "blocked" and lifted["sends"] == 30 and lifted["unblocked"] is True
    assert blocks(redis_client, prefix) == []
    for key in (k.KEY_BLOCK, k.KEY_PREFIX_SENDS, k.KEY_PREFIX_CONVERSIONS):
        assert not redis_client.exists(prefix + key + "1636555")
    assert redis_client.zscore(prefix + k.KEY_BLOCKED, "1636555") is None
    with pytest.raises(NotListedError, match="prefix 1636555 is not blocked"):
        unblock(redis_client, prefix, "1636555")


def test_unblock_clears_a_monitor_mode_entry_too(redis_client: redis.Redis, settings: Settings) -> None:
    prefix = settings.key_prefix
    g.write_block(redis_client, prefix, "1604555", monitor=True)
    assert unblock(redis_client, prefix, "1604555")["was"] == "would_block"
    assert blocks(redis_client, prefix, monitor=True) == []


def test_allow_and_remove(redis_client: redis.Redis, settings: Settings) -> None:
    prefix = settings.key_prefix
    assert allow(redis_client, prefix, "16365553226") == {"entry": "16365553226", "safe": True, "added": True}
    assert allow(redis_client, prefix, "16365553226")["added"] is False
    assert disallow(redis_client, prefix, "16365553226")["removed"] is True
    with pytest.raises(NotListedError, match="not on the run-time safe list"):
        disallow(redis_client, prefix, "16365553226")


FULLWIDTH = "".join(chr(0xFF10 + int(d)) for d in "1636555")  # digits, but not ASCII ones


@pytest.mark.parametrize("text", ["", "163", "1636555abc", "+1636555", "1" * 16, "16 36555", FULLWIDTH])
def test_entries_are_4_to_15_ascii_digits(text: str) -> None:
    with pytest.raises(ValidationError, match="4 to 15 digits"):
        clean_entry(text)


def test_the_cli_may_type_a_plus() -> None:
    assert clean_entry(" +16365553226 ", plus=True) == "16365553226"
    assert clean_entry("1636555") == "1636555"
