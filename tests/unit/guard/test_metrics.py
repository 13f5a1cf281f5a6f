"""The guard's cluster metrics as a scrape sees them, from a known Redis state."""

from __future__ import annotations

import time

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import guard as g
from worker import constants as c
from worker.config import Settings
from worker.guard.metrics import GuardStatsCollector


def scrape(client: redis.Redis, settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(GuardStatsCollector(client, settings))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_decisions_blocks_spend_and_ratios(redis_client: redis.Redis, settings: Settings) -> None:
    settings = settings.replace(key_hourly_quota=100, key_daily_quota=1000, daily_spend_cap=10.0,
                                country_hourly_cap=("US=50", "*=10"), country_burst_10min=("*=20",))
    prefix, now = settings.key_prefix, time.time()
    g.count(redis_client, prefix, "guard:prefix_blocked:enforce", 7)
    g.count(redis_client, prefix, "guard:prefix_would_block:monitor", 2)
    g.count(redis_client, prefix, "guard:bogus:enforce", 1)  # not a rule: not exported
    g.count(redis_client, prefix, "guard:sent:US", 40)
    g.count(redis_client, prefix, "guard:converted:US", 30)
    g.count(redis_client, prefix, "guard:sent:<script>", 1)  # never a label of its own
    g.count(redis_client, prefix, "state:delivered", 3)  # another collector's
    g.write_block(redis_client, prefix, "1636555", since=now - 30)
    g.write_block(redis_client, prefix, "1415555", since=now - 300)
    g.write_block(redis_client, prefix, "1212555", since=now - 7200, block_s=3600)  # over
    g.write_block(redis_client, prefix, "1604555", monitor=True, since=now - 5)
    g.spend(redis_client, prefix, 8.5)
    redis_client.zadd(prefix + c.KEY_API_KEYS, {"key_a": now})
    g.count_sends(redis_client, prefix, origin="key_a", country="US", n=30)
    g.count_sends(redis_client, prefix, origin="producer", country="CA", n=9)
    g.peak(redis_client, prefix, "key_hourly", 0.75)  # an origin the collector cannot name
    got = scrape(redis_client, settings)
    assert got[("pinrelay_guard_decisions_total", (("mode", "enforce"), ("rule", "prefix_blocked")))] == 7
    assert got[("pinrelay_guard_decisions_total", (("mode", "monitor"), ("rule", "prefix_would_block")))] == 2
    assert not any(labels and ("rule", "bogus") in labels for _, labels in got)
    assert got[("pinrelay_guard_judged_sends_total", (("country", "US"),))] == 40
    assert got[("pinrelay_guard_judged_sends_total", (("country", "other"),))] == 1
    assert got[("pinrelay_guard_conversions_total", (("country", "US"),))] == 30
    assert got[("pinrelay_guard_blocked_prefixes", ())] == 2
    assert got[("pinrelay_guard_would_block_prefixes", ())] == 1
    newest = got[("pinrelay_guard_newest_block_timestamp_seconds", (("mode", "enforce"),))]
    assert abs(newest - (now - 30)) < 1
    assert got[("pinrelay_spend_today", ())] == 8.5 and got[("pinrelay_spend_cap", ())] == 10
    ratios = {labels[0][1]: v for (name, labels), v in got.items() if name == "pinrelay_quota_use_ratio"}
    assert ratios == {"key_hourly": 0.75, "key_daily": 0.03, "country_hourly": 0.9, "country_burst": 1.5,
                      "spend_cap": 0.85}


def test_an_empty_redis_scrapes_as_zeros(redis_client: redis.Redis, settings: Settings) -> None:
    got = scrape(redis_client, settings)
    assert got[("pinrelay_guard_blocked_prefixes", ())] == 0
    assert got[("pinrelay_guard_newest_block_timestamp_seconds", (("mode", "monitor"),))] == 0
    assert got[("pinrelay_quota_use_ratio", (("quota", "spend_cap"),))] == 0
    assert got[("pinrelay_spend_cap", ())] == settings.daily_spend_cap
