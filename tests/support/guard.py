"""The pumping guard's Redis state as its store step leaves it (the key schema of worker/guard/keys.py).

The operating side (``pinrelay guard``, the metrics, the report, doctor) only reads these keys;
its tests write them the way the decision path does, so each figure can be checked against a
known state.
"""

from __future__ import annotations

import time
from typing import Any

from worker import constants as c
from worker.guard import keys as k


def write_block(client: Any, prefix: str, target: str, *, monitor: bool = False, since: float | None = None,
                block_s: float = 3600, sends: int = 20, conversions: int = 2) -> float:
    """A block (``monitor``: a would-block) of ``target`` as the guard makes it; its ``until``."""
    since = time.time() if since is None else since
    until = since + block_s
    hashes, index = (k.KEY_WOULD_BLOCK, k.KEY_WOULD_BLOCKED) if monitor else (k.KEY_BLOCK, k.KEY_BLOCKED)
    pipe = client.pipeline(transaction=True)
    pipe.hset(prefix + hashes + target, mapping={"since": int(since * 1000), "until": int(until * 1000),
                                                  "sends": sends, "conversions": conversions})
    if until > time.time():
        pipe.pexpire(prefix + hashes + target, int((until - time.time()) * 1000))
    pipe.zadd(prefix + index, {target: int(until * 1000)})
    pipe.execute()
    return until


def write_window(client: Any, prefix: str, target: str, sends: int, conversions: int) -> None:
    """The prefix's judged sends and conversions in its window (zsets of request id -> ms)."""
    now_ms = int(time.time() * 1000)
    if sends:
        client.zadd(prefix + k.KEY_PREFIX_SENDS + target, {f"r{i}": now_ms - i for i in range(sends)})
    if conversions:
        client.zadd(prefix + k.KEY_PREFIX_CONVERSIONS + target,
                    {f"r{i}": now_ms - i for i in range(conversions)})


def count_sends(client: Any, prefix: str, *, origin: str, country: str, n: int,
                at: float | None = None) -> None:
    """``n`` sends of ``origin`` to ``country`` on the quota counters of ``at``'s windows, and
    ``origin`` in that day's ``guard:origins:<day>`` (where the status finds whose counters to read)."""
    at = time.time() if at is None else at
    pipe = client.pipeline(transaction=False)
    pipe.sadd(prefix + k.KEY_ORIGINS + k.day_slot(at), origin)
    pipe.expire(prefix + k.KEY_ORIGINS + k.day_slot(at), 2 * 86400)
    for name in (f"{k.KEY_QUOTA_KEY_HOUR}{origin}:{k.hour_slot(at)}",
                 f"{k.KEY_QUOTA_KEY_DAY}{origin}:{k.day_slot(at)}",
                 f"{k.KEY_QUOTA_COUNTRY_HOUR}{country}:{k.hour_slot(at)}",
                 f"{k.KEY_QUOTA_COUNTRY_BURST}{country}:{k.burst_slot(at)}"):
        pipe.incrby(prefix + name, n)
        pipe.expire(prefix + name, 2 * 86400)
    pipe.execute()


def spend(client: Any, prefix: str, amount: float, at: float | None = None) -> None:
    at = time.time() if at is None else at
    client.incrbyfloat(prefix + k.KEY_SPEND + k.day_slot(at), amount)


def peak(client: Any, prefix: str, quota: str, used: float, at: float | None = None) -> None:
    """The store step's note that ``quota`` reached ``used`` of its limit in ``at``'s hour."""
    at = time.time() if at is None else at
    client.hset(prefix + k.KEY_PEAK + k.hour_slot(at), quota, f"{used:.4f}")


def count(client: Any, prefix: str, field: str, n: int = 1) -> None:
    """A ``stats`` counter: ``guard:<rule>:<mode>``, ``guard:sent:<CC>``, ``guard:converted:<CC>``."""
    client.hincrby(prefix + c.KEY_STATS, field, n)
