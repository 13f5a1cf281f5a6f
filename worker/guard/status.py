"""What the guard is doing right now, read from Redis: ``pinrelay guard status`` and ``GET /v1/guard``.

Only reads. The blocks come from their indexes (``guard:blocked``, ``guard:wouldblock``: at
most 10,000 members each), entries past their ``until`` left out; each block's figures from
its hash. The quota counters of this hour and day are read by name, never found by a scan
(the HTTP API's Redis role has no ``SCAN``/``KEYS``): the origins from ``guard:origins:<day>``,
the set of origins that sent that UTC day, the countries from the limits (the allowed regions
and every country a cap names, :meth:`Limits.countries`), each counter then with one GET.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from worker.guard import keys as k
from worker.guard.limits import Limits, ratio
from worker.records.view import iso
from worker.text import to_text

__all__ = ["guard_status", "blocks", "entry_of", "peaks", "quota_use", "seconds"]

MS_THRESHOLD: Final = 1e11  # a time above this is in milliseconds (1e11 s is the year 5138)


def seconds(value: Any) -> float | None:
    """A stored time as unix seconds, whether it was written in seconds or milliseconds."""
    try:
        number = float(to_text(value))
    except (TypeError, ValueError):
        return None
    return number / 1000 if number > MS_THRESHOLD else number


def get_many(client: Any, names: list[Any]) -> list[Any]:
    """GET of each name in one pipeline: the same round trip as MGET, with only the commands the
    Redis roles of ops/redis-users.acl grant (GET, not MGET)."""
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.get(name)
    return list(pipe.execute()) if names else []


def _int(value: Any) -> int:
    try:
        return int(float(to_text(value)))
    except (TypeError, ValueError):
        return 0


def entry_of(target: str, raw: Mapping[Any, Any], *, until: Any = None) -> dict[str, Any]:
    """One block as shown: ``{prefix, since, until, sends, conversions}``, times in ISO 8601 UTC
    (``until`` from the index when the hash has none)."""
    data = {to_text(a): b for a, b in raw.items()}
    return {"prefix": target, "since": iso(seconds(data.get("since"))),
            "until": iso(seconds(data.get("until")) or seconds(until)),
            "sends": _int(data.get("sends")), "conversions": _int(data.get("conversions"))}


def blocks(client: Any, prefix: str, *, monitor: bool = False,
           now: float | None = None) -> list[dict[str, Any]]:
    """The prefixes blocked now (``monitor``: that monitor mode would have blocked), newest first:
    ``{prefix, since, until, sends, conversions}`` with times in ISO 8601 UTC."""
    now = time.time() if now is None else now
    index = prefix + (k.KEY_WOULD_BLOCKED if monitor else k.KEY_BLOCKED)
    hash_prefix = prefix + (k.KEY_WOULD_BLOCK if monitor else k.KEY_BLOCK)
    members: Any = client.zrange(index, 0, k.BLOCKED_INDEX_MAX - 1, withscores=True)
    live = [(to_text(m), score) for m, score in members if (seconds(score) or 0) > now]
    pipe = client.pipeline(transaction=False)
    for member, _ in live:
        pipe.hgetall(hash_prefix + member)
    out = [entry_of(member, raw, until=score)
           for (member, score), raw in zip(live, pipe.execute() if live else [], strict=True)]
    out.sort(key=lambda b: (b["since"] or "", b["prefix"]), reverse=True)
    return out


def peaks(client: Any, prefix: str, *, hours: int = 24, now: float | None = None) -> dict[str, float]:
    """The highest use ratio each quota reached in the last ``hours`` hours (``guard:peak:<hour>``,
    written by the store step once a ratio passes one half)."""
    now = time.time() if now is None else now
    pipe = client.pipeline(transaction=False)
    for back in range(hours):
        pipe.hgetall(prefix + k.KEY_PEAK + k.hour_slot(now - back * 3600))
    best: dict[str, float] = {}
    for raw in pipe.execute():
        for name, value in raw.items():
            quota = to_text(name)
            try:
                best[quota] = max(best.get(quota, 0.0), float(to_text(value)))
            except ValueError:
                continue
    return {quota: round(best[quota], 4) for quota in sorted(best)}


def _counters(client: Any, prefix: str, limits: Limits, now: float) -> dict[str, dict[str, int]]:
    """The quota counters of ``now``'s windows, by quota key and then origin or country: those
    of the origins in this UTC day's ``guard:origins:<day>`` and of :meth:`Limits.countries`,
    read by name (GET); a counter that does not exist is left out."""
    hour, day, slot = k.hour_slot(now), k.day_slot(now), k.burst_slot(now)
    members: Any = client.smembers(prefix + k.KEY_ORIGINS + day)
    origins, countries = sorted(to_text(m) for m in members), limits.countries()
    windows = {k.KEY_QUOTA_KEY_HOUR: (hour, origins), k.KEY_QUOTA_KEY_DAY: (day, origins),
               k.KEY_QUOTA_COUNTRY_HOUR: (hour, countries), k.KEY_QUOTA_COUNTRY_BURST: (slot, countries)}
    wanted = [(kind, who, window) for kind, (window, names) in windows.items() for who in names]
    values = get_many(client, [f"{prefix}{kind}{who}:{window}" for kind, who, window in wanted])
    found: dict[str, dict[str, int]] = {kind: {} for kind in windows}
    for (kind, who, _), value in zip(wanted, values, strict=True):
        if value is not None:
            found[kind][who] = _int(value)
    return found


def _use(counts: Mapping[str, int], label: str, limit_of: Any) -> list[dict[str, Any]]:
    rows = [{label: who, "count": n, "limit": limit_of(who), "ratio": ratio(n, limit_of(who))}
            for who, n in counts.items()]
    rows.sort(key=lambda r: (-(r["ratio"] or 0.0), -r["count"], r[label]))
    return rows


def _quota(setting: str, window: str, use: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [r["ratio"] for r in use if r["ratio"] is not None]
    return {"setting": setting, "window": window, "max_ratio": max(ratios) if ratios else None, "use": use}


def quota_use(client: Any, prefix: str, limits: Limits, now: float) -> dict[str, Any]:
    """Each quota's use in its current window: per origin (key quotas), per country (caps), and
    the spend of the UTC day against the cap."""
    hour, day, slot = k.hour_slot(now), k.day_slot(now), k.burst_slot(now)
    by_kind = _counters(client, prefix, limits, now)
    spent = float(to_text(client.get(prefix + k.KEY_SPEND + day) or b"0") or 0)
    settings = k.QUOTA_SETTINGS
    return {
        "key_hourly": _quota(settings["key_hourly"], hour, _use(
            by_kind[k.KEY_QUOTA_KEY_HOUR], "origin", lambda _: limits.key_hourly)),
        "key_daily": _quota(settings["key_daily"], day, _use(
            by_kind[k.KEY_QUOTA_KEY_DAY], "origin", lambda _: limits.key_daily)),
        "country_hourly": _quota(settings["country_hourly"], hour, _use(
            by_kind[k.KEY_QUOTA_COUNTRY_HOUR], "country",
            lambda cc: limits.country_cap(limits.country_hourly, cc))),
        "country_burst": _quota(settings["country_burst"], slot, _use(
            by_kind[k.KEY_QUOTA_COUNTRY_BURST], "country",
            lambda cc: limits.country_cap(limits.country_burst, cc))),
        "spend_cap": {"setting": settings["spend_cap"], "window": day, "spent": round(spent, 6),
                      "cap": limits.spend_cap, "ratio": ratio(spent, limits.spend_cap),
                      "max_ratio": ratio(spent, limits.spend_cap)},
    }


def safe_list(client: Any, prefix: str, configured: Iterable[str]) -> dict[str, list[str]]:
    """The never-block list: added at run time (``guard allow``) and from ``PINRELAY_GUARD_SAFE``."""
    runtime: Any = client.smembers(prefix + k.KEY_SAFE)
    return {"runtime": sorted(to_text(m) for m in runtime), "configured": sorted(configured)}


def guard_status(client: Any, prefix: str, limits: Limits, *, now: float | None = None) -> dict[str, Any]:
    """The whole status: ``mode``, ``blocked``, ``would_block``, ``safe``, ``quotas`` and the
    last 24 h's ``peaks``."""
    now = time.time() if now is None else now
    return {
        "mode": limits.mode,
        "at": iso(now),
        "blocked": blocks(client, prefix, now=now),
        "would_block": blocks(client, prefix, monitor=True, now=now),
        "safe": safe_list(client, prefix, limits.safe),
        "quotas": quota_use(client, prefix, limits, now),
        "peaks_24h": peaks(client, prefix, now=now),
    }
