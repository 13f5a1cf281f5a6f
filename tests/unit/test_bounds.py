"""Every Redis family that traffic can grow has a bound (issue 10 finding 3).

Receipts come from the Internet; what they carry (message-ids, err-codes, sizes) must never
become a new hash field, a metric label, or an entry that stays for ever. Dead letters are
capped, parked receipts are capped, and `pinrelay dead show|purge` read in pages and free
with UNLINK.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from worker import constants as c
from worker import lua
from worker.cli.dead import run_dead
from worker.config import Settings
from worker.correlate.correlator import Correlator
from worker.metrics import RedisStatsCollector
from worker.records.deadletters import DeadLetters
from worker.records.store import RecordStore, new_request_id
from worker.states import State

TO = "16365553226"
# Node size of a Redis stream: `XADD MAXLEN ~` trims whole nodes, so up to this many more stay.
STREAM_NODE = 100


def _correlator(settings: Settings, client: redis.Redis) -> Correlator:
    made = Correlator(settings, client, consumer="c1", block_ms=10)
    made.ensure_group()
    return made


def _push(client: redis.Redis, settings: Settings, fields: dict[str, str]) -> None:
    client.xadd(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}",
                {"received_at": f"{time.time():.3f}", **fields})  # type: ignore[arg-type]


def _drain(correlator: Correlator) -> list[str]:
    verdicts: list[str] = []
    while entries := correlator.read(block_ms=10):
        verdicts += correlator.apply(entries)
    return verdicts


def _submitted(store: RecordStore, message_id: str) -> str:
    rid = new_request_id()
    store.create(rid, None, store.new_record(rid, to=TO, pin="1234", client_ref=None, params=None,
                                             expires_at=time.time() + 300))
    store.claim(rid)
    store.finish(rid, State.SUBMITTED, message_id=message_id, fields={"message_id": message_id})
    return rid


def _calls(client: redis.Redis, command: str) -> int:
    stats: Any = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_err_codes_never_become_new_stats_fields(settings: Settings, redis_client: redis.Redis) -> None:
    """200 receipts with 200 made-up err-codes add one `other` field, not 200."""
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    for i in range(200):
        _submitted(store, f"2A{i:014d}")
        _push(redis_client, settings, {"messageId": f"2A{i:014d}", "status": "failed", "msisdn": TO,
                                       "err-code": secrets.token_hex(6)})
    _push(redis_client, settings, {"messageId": "2A00000000000000", "status": "failed", "err-code": "6"})
    assert set(_drain(_correlator(settings, redis_client))) == {"applied", "duplicate"}
    fields = [k for k in store.stats() if k.startswith("receipt:")]
    assert fields == ["receipt:failed:other"]
    assert store.stats()["receipt:failed:other"] == 200


def test_metric_labels_are_only_documented_values(settings: Settings, redis_client: redis.Redis) -> None:
    """Fields an older version wrote (any err-code, any status) are summed under `other`."""
    junk = {f"receipt:failed:{secrets.token_hex(4)}": 1 for _ in range(50)}
    redis_client.hset(f"{settings.key_prefix}{c.KEY_STATS}", mapping={
        **junk, "receipt:failed:6": 2, "receipt:weird:0": 3, "receipt:accepted:": 4})
    registry = CollectorRegistry()
    registry.register(RedisStatsCollector(redis_client, settings))
    lines = [ln for ln in generate_latest(registry).decode().splitlines()
             if ln.startswith("pinrelay_receipts_total")]
    assert sorted(lines) == sorted([
        'pinrelay_receipts_total{err_code="other",status="failed"} 50.0',
        'pinrelay_receipts_total{err_code="6",status="failed"} 2.0',
        'pinrelay_receipts_total{err_code="0",status="other"} 3.0',
        'pinrelay_receipts_total{err_code="",status="accepted"} 4.0',
    ])


def test_dead_receipts_are_capped(settings: Settings, redis_client: redis.Redis) -> None:
    """600 receipts nobody sent leave at most the cap (plus one stream node) as dead letters."""
    capped = settings.replace(dead_letter_cap=50)
    correlator = _correlator(capped, redis_client)
    for i in range(600):
        _push(redis_client, capped, {"messageId": f"X{i}-{secrets.token_hex(8)}", "status": "delivered"})
    _drain(correlator)
    correlator.sweep(now=time.time() + capped.receipt_grace_s + 1)
    kept = DeadLetters(redis_client, capped.key_prefix).list("receipts", limit=10_000)
    assert 50 <= len(kept) <= 50 + STREAM_NODE


def test_parked_receipts_are_capped(settings: Settings, redis_client: redis.Redis) -> None:
    """At most PINRELAY_PARKED_MAX message-ids wait, each with at most a few receipts; the rest are
    dead letters (counted), not memory held for the grace period."""
    capped = settings.replace(parked_max=20)
    correlator = _correlator(capped, redis_client)
    for i in range(100):
        _push(redis_client, capped, {"messageId": f"P{i}", "status": "delivered"})
    for _ in range(30):
        _push(redis_client, capped, {"messageId": "P99", "status": "accepted"})
    _drain(correlator)
    prefix = capped.key_prefix
    assert redis_client.zcard(f"{prefix}{c.KEY_PARKED}") == 20
    assert redis_client.llen(f"{prefix}{c.KEY_PARKED_RECEIPTS}P99") == c.PARKED_PER_MESSAGE_MAX
    assert RecordStore(redis_client, prefix=prefix, ttl_s=60).stats()["receipts_overflow"] == 80 + 23


def test_dead_sends_and_tasks_are_capped(settings: Settings, redis_client: redis.Redis) -> None:
    """Dead tasks are trimmed as they are added, dead sends by the correlator's sweep; a task's
    detail goes with it."""
    capped = settings.replace(dead_letter_cap=10)
    dead = DeadLetters(redis_client, capped.key_prefix, cap=capped.dead_letter_cap)
    for i in range(40):
        dead.add("tasks", f"task-{i}", {"error": "boom"})
        redis_client.zadd(dead.key("sends"), {f"send-{i}": time.time() - 40 + i})
    assert redis_client.zcard(dead.key("tasks")) == 10
    assert redis_client.hlen(f"{dead.key('tasks')}:detail") == 10
    assert dead.detail("tasks", "task-39") == {"error": "boom"}
    _correlator(capped, redis_client).sweep()
    assert [m for m, _ in dead.list("sends", limit=100)] == [f"send-{i}" for i in range(39, 29, -1)]


def test_dead_show_and_purge_read_in_pages_and_unlink(
    settings: Settings, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pinrelay dead show receipts ID` finds one receipt among 3000 without one HGETALL of the
    whole set, and `purge` frees it with UNLINK, never one DEL of a huge key."""
    correlator = _correlator(settings, redis_client)
    for i in range(3000):
        _push(redis_client, settings, {"messageId": f"S{i:05d}", "status": "delivered", "err-code": "0"})
    _drain(correlator)
    correlator.sweep(now=time.time() + settings.receipt_grace_s + 1)
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=60)
    producer = SimpleNamespace(redis=redis_client, settings=settings, store=store)
    before = (_calls(redis_client, "hgetall"), _calls(redis_client, "del"), _calls(redis_client, "unlink"))
    capsys.readouterr()  # the correlator's log lines
    args = argparse.Namespace(action="show", kind="receipts", id="S00042")
    assert run_dead(args, producer) == 0
    shown = json.loads(capsys.readouterr().out)
    assert "S00042" in json.dumps(shown)
    assert run_dead(argparse.Namespace(action="purge", kind="receipts", id=None), producer) == 0
    assert json.loads(capsys.readouterr().out) == {"purged": 3000, "kind": "receipts"}
    after = (_calls(redis_client, "hgetall"), _calls(redis_client, "del"), _calls(redis_client, "unlink"))
    assert after[0] == before[0], "HGETALL was used"
    assert after[1] == before[1], "DEL was used"
    assert after[2] > before[2], "UNLINK was not used"
    assert DeadLetters(redis_client, settings.key_prefix).list("receipts") == []


def test_lua_bounds_are_the_python_ones(redis_client: redis.Redis) -> None:
    """The prelude's bounds and documented err-codes are worker/constants.py's, evaluated in Redis."""
    probe = lua.prelude() + (
        "local codes = {} for code in pairs(ERR_CODES) do codes[#codes + 1] = code end\n"
        "return {DEAD_CAP, PARKED_MAX, PARKED_PER_ID, PARKED_SKEW_S, CLIENT_REF_HOLDERS, codes}\n"
    )
    *numbers, codes = redis_client.eval(probe, 0)  # type: ignore[misc]
    assert numbers == [c.DEFAULT_DEAD_LETTER_CAP, c.DEFAULT_PARKED_MAX, c.PARKED_PER_MESSAGE_MAX,
                       c.PARKED_RECEIPT_SKEW_S, c.CLIENT_REF_HOLDERS_MAX]
    assert {code.decode() for code in codes} == c.DOCUMENTED_ERR_CODES
