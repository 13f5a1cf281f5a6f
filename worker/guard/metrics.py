"""The guard's Prometheus figures, read from Redis at scrape time (the whole cluster's view).

Like :class:`worker.metrics.RedisStatsCollector` (registered next to it by ``pinrelay
correlate``), so any one process exports them without double counting:

* ``pinrelay_guard_decisions_total{rule,mode}``: the ``stats`` fields ``guard:<rule>:<mode>``
  (refusals, monitor-mode would-blocks, fail-opens); only the known rules and modes;
* ``pinrelay_guard_judged_sends_total{country}`` / ``pinrelay_guard_conversions_total{country}``:
  ``guard:sent:<CC>`` / ``guard:converted:<CC>``, so an alert can compare a country's
  conversion rate over an hour with its rate over a week;
* ``pinrelay_guard_blocked_prefixes`` / ``pinrelay_guard_would_block_prefixes``: blocks in force
  now (monitor mode: the ones it would have made), and
  ``pinrelay_guard_newest_block_timestamp_seconds{mode}``, when the newest of them began;
* ``pinrelay_spend_today`` and ``pinrelay_spend_cap``: the UTC day's spend and its cap;
* ``pinrelay_quota_use_ratio{quota}``: the highest use ratio of each quota in its current window.

No scan: a scrape reads only keys it can name. The country counters of the allowed regions
and capped countries, the key counters of every API key and of the default producer origin,
and the spend are read exactly; an origin the collector cannot name (a producer with its own
``PINRELAY_PRODUCER_ID``) shows through the ``guard:peak:<hour>`` hash, which the store step
keeps once a ratio passes one half. ``pinrelay guard status`` reads every origin of the day
(``guard:origins:<day>``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any, Final

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from worker import constants as c
from worker.config import Settings
from worker.guard import keys as k
from worker.guard.limits import Limits, ratio
from worker.guard.status import get_many, peaks, seconds
from worker.text import to_text

__all__ = ["GuardStatsCollector"]

NEWEST_LOOKED_AT: Final = 100  # blocks looked at for the newest one (the latest `until`s)
ORIGINS_MAX: Final = 1000  # API keys whose counters a scrape reads
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
_MS_FROM: Final = "(100000000000"  # index scores above this are milliseconds (status.MS_THRESHOLD)


class GuardStatsCollector(Collector):
    """Decisions, blocks, spend and quota use, for the whole cluster."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._client = client
        self._prefix = settings.key_prefix
        self._limits = Limits.from_settings(settings)

    def collect(self) -> Iterator[Any]:
        now = time.time()
        yield from self._counters()
        yield from self._blocks(now)
        spent = float(to_text(self._client.get(self._prefix + k.KEY_SPEND + k.day_slot(now)) or b"0") or 0)
        yield GaugeMetricFamily("pinrelay_spend_today", "Money spent on sends this UTC day (provider prices; "
                                "estimates until a price is known)", value=spent)
        yield GaugeMetricFamily("pinrelay_spend_cap", "PINRELAY_DAILY_SPEND_CAP (0 = no cap)",
                                value=float(self._limits.spend_cap))
        family = GaugeMetricFamily("pinrelay_quota_use_ratio", "Highest use of each quota in its current "
                                   "window, as a share of its limit", labels=["quota"])
        for quota, value in self._ratios(now, spent).items():
            family.add_metric([quota], value)
        yield family

    def _counters(self) -> Iterator[Any]:
        stats: Any = self._client.hgetall(self._prefix + c.KEY_STATS)
        decisions = CounterMetricFamily("pinrelay_guard_decisions", "The guard's decisions by rule and "
                                        "mode: refusals, would-blocks (monitor), fail-opens",
                                        labels=["rule", "mode"])
        sent = CounterMetricFamily("pinrelay_guard_judged_sends", "Judged sends (those whose conversion "
                                   "pinrelay learns), by country", labels=["country"])
        converted = CounterMetricFamily("pinrelay_guard_conversions", "Conversions of judged sends, by "
                                        "country", labels=["country"])
        by_country: dict[tuple[str, str], float] = {}
        for raw_name, raw_value in stats.items():
            name = to_text(raw_name)
            if not name.startswith(k.STATS_GUARD):
                continue
            rule, _, mode = name[len(k.STATS_GUARD):].partition(":")
            if rule in k.RULES and mode in k.MODES:
                decisions.add_metric([rule, mode], float(raw_value))
            elif rule in ("sent", "converted"):
                country = mode if _COUNTRY.match(mode) else "other"
                by_country[(rule, country)] = by_country.get((rule, country), 0.0) + float(raw_value)
        for (kind, country), value in sorted(by_country.items()):
            (sent if kind == "sent" else converted).add_metric([country], value)
        yield decisions
        yield sent
        yield converted

    def _blocks(self, now: float) -> Iterator[Any]:
        newest = GaugeMetricFamily("pinrelay_guard_newest_block_timestamp_seconds", "When the newest "
                                   "block in force began (monitor: would-block)", labels=["mode"])
        for mode, index, hashes in (("enforce", k.KEY_BLOCKED, k.KEY_BLOCK),
                                    ("monitor", k.KEY_WOULD_BLOCKED, k.KEY_WOULD_BLOCK)):
            live = self._live(self._prefix + index, now)
            name = "pinrelay_guard_blocked_prefixes" if mode == "enforce" else \
                "pinrelay_guard_would_block_prefixes"
            text = ("Prefixes blocked now" if mode == "enforce" else
                    "Prefixes monitor mode would have blocked, still in their block time")
            yield GaugeMetricFamily(name, text, value=float(live))
            newest.add_metric([mode], self._newest(index, hashes, now) if live else 0.0)
        yield newest

    def _live(self, index: str, now: float) -> int:
        """Members whose ``until`` is still ahead, whether it was written in seconds or in ms."""
        pipe = self._client.pipeline(transaction=False)
        pipe.zcount(index, now, _MS_FROM)
        pipe.zcount(index, now * 1000, "+inf")
        return int(sum(pipe.execute()))

    def _newest(self, index: str, hashes: str, now: float) -> float:
        members: Any = self._client.zrevrange(self._prefix + index, 0, NEWEST_LOOKED_AT - 1, withscores=True)
        live = [to_text(m) for m, score in members if (seconds(score) or 0) > now]
        pipe = self._client.pipeline(transaction=False)
        for member in live:
            pipe.hget(self._prefix + hashes + member, "since")
        return max((seconds(v) or 0.0 for v in pipe.execute()), default=0.0) if live else 0.0

    def _ratios(self, now: float, spent: float) -> dict[str, float]:
        limits, prefix = self._limits, self._prefix
        hour, day, slot = k.hour_slot(now), k.day_slot(now), k.burst_slot(now)
        keys: Any = self._client.zrange(prefix + c.KEY_API_KEYS, 0, ORIGINS_MAX - 1)
        origins = [limits.producer_origin, *(to_text(o) for o in keys)]
        countries = limits.countries()
        names = ([f"{prefix}{k.KEY_QUOTA_KEY_HOUR}{o}:{hour}" for o in origins]
                 + [f"{prefix}{k.KEY_QUOTA_KEY_DAY}{o}:{day}" for o in origins]
                 + [f"{prefix}{k.KEY_QUOTA_COUNTRY_HOUR}{cc}:{hour}" for cc in countries]
                 + [f"{prefix}{k.KEY_QUOTA_COUNTRY_BURST}{cc}:{slot}" for cc in countries])
        values = [int(float(to_text(v))) if v is not None else 0 for v in get_many(self._client, names)]
        n, m = len(origins), len(countries)
        exact = {
            "key_hourly": [ratio(v, limits.key_hourly) for v in values[:n]],
            "key_daily": [ratio(v, limits.key_daily) for v in values[n:2 * n]],
            "country_hourly": [ratio(v, limits.country_cap(limits.country_hourly, cc))
                               for v, cc in zip(values[2 * n:2 * n + m], countries, strict=True)],
            "country_burst": [ratio(v, limits.country_cap(limits.country_burst, cc))
                              for v, cc in zip(values[2 * n + m:], countries, strict=True)],
            "spend_cap": [ratio(spent, limits.spend_cap)],
        }
        this_hour = peaks(self._client, prefix, hours=1, now=now)
        today = peaks(self._client, prefix, hours=time.gmtime(now).tm_hour + 1, now=now)
        seen = {"key_hourly": this_hour, "key_daily": today}
        return {quota: max([r for r in exact[quota] if r is not None]
                           + [seen.get(quota, {}).get(quota, 0.0)], default=0.0)
                for quota in k.QUOTAS}
