"""The correlator as a real process: killed mid-backlog and replaced, nothing lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import redis

from tests.support.live import stop_stack
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from worker import constants as c
from worker.config import Settings
from worker.local.supervisor import Stack
from worker.records.store import RecordStore, new_request_id
from worker.states import State

COUNT = 3000


def _submitted_with_receipts(store: RecordStore, client: redis.Redis, settings: Settings) -> list[str]:
    ids = []
    pipe = client.pipeline(transaction=False)
    now = time.time()
    for _ in range(COUNT):
        rid = new_request_id()
        ids.append(rid)
        argv = store.new_record(rid, to="16365553226", pin="1234", client_ref=None, params=None,
                                expires_at=now + 300)
        store.create_many([(rid, None, argv)], pipe=pipe)
    pipe.execute()
    for i, rid in enumerate(ids):
        store.claim(rid)
        store.finish(rid, State.SUBMITTED, message_id=f"K{i:015d}",
                     fields={"message_id": f"K{i:015d}", "submitted_at": f"{now:.3f}"})
    stream = f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}"
    for i in range(COUNT):
        pipe.xadd(stream, {"messageId": f"K{i:015d}", "status": "delivered", "msisdn": "16365553226",
                           "err-code": "0", "received_at": f"{now:.3f}"})
    pipe.execute()
    return ids


def test_killed_correlator_is_replaced_without_losing_receipts(redis_url: str, tmp_path: Path) -> None:
    """kill -9 during a 3,000-receipt backlog; a new correlator reclaims and finishes every one."""
    settings = isolated_settings(redis_url, claim_idle_ms=500)
    client = redis.Redis.from_url(redis_url)
    store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
    stack = Stack(settings, log_dir=tmp_path)
    try:
        stack.ensure_redis()
        first = stack.start_correlator("correlator-1")
        ids = _submitted_with_receipts(store, client, settings)
        stats_key = f"{settings.key_prefix}{c.KEY_STATS}"
        wait_for(lambda: int(client.hget(stats_key, "receipts_applied") or 0) > 0, what="work to start")
        assert first.process is not None
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait()
        applied_before = int(client.hget(stats_key, "receipts_applied") or 0)
        stack.start_correlator("correlator-2")
        wait_for(lambda: client.xlen(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}") == 0,
                 timeout=60, what="the backlog to drain")
        states = {r.get("state") for r in store.get_many(ids)}
        assert states == {"delivered"}
        assert applied_before < COUNT  # the kill really landed mid-backlog
    finally:
        stop_stack(stack)
        cleanup(client, settings)
        client.close()
