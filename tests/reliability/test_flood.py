"""A flood of hostile receipts leaves Redis memory bounded (issue 10 finding 3).

Thousands of unsigned receipts (the receiver on loopback takes them) with random
message-ids, random err-codes and statuses, some near the body limit, plus malformed ones,
over real HTTP against the real `pinrelay webhook` and `pinrelay correlate`, on a Redis of
this test's own so that its `used_memory` means something. Before round 2 each of them
stayed in Redis for ever (unmatched hash, dead-letter set, a `stats` field per err-code).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import requests

from pinrelay_ops.simulator import Simulator
from tests.reliability.figures import Figures
from tests.support.live import StartLive
from tests.support.waiting import wait_for
from webhook.app import RECEIPT_PATH
from worker import constants as c
from worker.local.embedded import EmbeddedRedis
from worker.records.store import RecordStore, new_request_id
from worker.states import State

SMALL, LARGE, MALFORMED = 2600, 300, 100
MATCHING = 200  # of the small ones: for real sends (applied), each with a made-up err-code
CAP = 500  # PINRELAY_DEAD_LETTER_CAP and PINRELAY_PARKED_MAX for this test
STATUSES = ("delivered", "failed", "expired", "rejected", "accepted", "buffered", "unknown", "de", "x" * 40)
# A dead letter keeps at most about DEAD_RECEIPT_MAX_BYTES of a receipt; the stream trims whole
# nodes of 100 entries, and Redis's own bookkeeping grows a little whatever we do.
BOUND_BYTES = (CAP + 100) * (c.DEAD_RECEIPT_MAX_BYTES + 512) + 1_000_000
STATS_FIELDS_MAX = 40
TO = "16365553226"


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(appendonly=False) as server:
        yield server


def _sends(store: RecordStore) -> list[str]:
    """MATCHING submitted sends (no worker needed: the store's scripts, as a worker runs them)."""
    mids = []
    for i in range(MATCHING):
        rid, mid = new_request_id(), f"F1{i:014d}"
        store.create(rid, None, store.new_record(rid, to=TO, pin="1234", client_ref=None, params=None,
                                                 expires_at=time.time() + 300))
        store.claim(rid)
        store.finish(rid, State.SUBMITTED, message_id=mid, fields={"message_id": mid})
        mids.append(mid)
    return mids


def _receipts(rng: random.Random, mids: list[str]) -> list[dict[str, str]]:
    out = []
    for i in range(SMALL + LARGE + MALFORMED):
        fields = {"messageId": secrets.token_hex(8), "status": rng.choice(STATUSES),
                  "err-code": secrets.token_hex(rng.randint(1, 6)), "client-ref": secrets.token_hex(6),
                  "msisdn": f"1636555{rng.randint(0, 9999):04d}"}
        if i < MATCHING:
            fields.update(messageId=mids[i], status="failed", msisdn=TO)
        if i >= SMALL + LARGE:
            del fields["messageId"]  # malformed: answered 400, nothing kept
        elif i >= SMALL:
            fields.update({f"pad{n}": secrets.token_hex(1000) for n in range(28)})  # ~56 kB body
        out.append(fields)
    return out


@pytest.mark.slow
def test_flood_of_hostile_receipts_leaves_memory_bounded(
    own_redis: EmbeddedRedis, sim: Simulator, live_stacks: StartLive, figures: Figures
) -> None:
    """3000 receipts (random ids, err-codes, statuses; 300 near the body limit; 100 malformed; 200
    for real sends, with made-up err-codes): Redis grows by less than the dead-letter cap allows,
    and `stats` by a few fields."""
    live = live_stacks(own_redis.url, sim, workers=0, receiver=True, dead_letter_cap=CAP, parked_max=CAP,
                       receipt_grace_s=1)
    client = redis.Redis.from_url(own_redis.url)
    prefix = live.settings.key_prefix
    mids = _sends(RecordStore(client, prefix=prefix, ttl_s=live.settings.record_ttl_s))
    before = int(client.info("memory")["used_memory"])
    receipts = _receipts(random.Random(10), mids)
    url = (live.stack.webhook_url or "") + RECEIPT_PATH

    def post(batch: list[dict[str, str]]) -> list[int]:
        with requests.Session() as session:
            return [session.post(url, data=fields, timeout=10).status_code for fields in batch]

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = [code for batch in pool.map(post, [receipts[i::8] for i in range(8)]) for code in batch]
    took = time.monotonic() - started
    assert codes.count(200) == SMALL + LARGE and codes.count(400) == MALFORMED

    def settled() -> bool:
        groups: Any = client.xinfo_groups(f"{prefix}{c.KEY_RECEIPTS_STREAM}")
        backlog = sum(int(g["pending"]) + int(g.get("lag") or 0) for g in groups)
        return backlog == 0 and client.zcard(f"{prefix}{c.KEY_PARKED}") == 0

    wait_for(settled, 60, "the correlator to drain the stream and give up on every parked receipt")
    grown = int(client.info("memory")["used_memory"]) - before
    fields = int(client.hlen(f"{prefix}{c.KEY_STATS}"))
    dead = int(client.xlen(f"{prefix}{c.KEY_DEAD_RECEIPTS}"))
    figures.add("receipt flood", f"{SMALL + LARGE + MALFORMED} unsigned receipts over HTTP in {took:.1f} s "
                f"({LARGE} of ~56 kB, {MALFORMED} malformed), random ids/err-codes/statuses; dead-letter "
                f"cap {CAP}", sent=len(receipts), lost=0, duplicated=0,
                measured=f"Redis grew {grown / 1e6:.2f} MB (bound {BOUND_BYTES / 1e6:.1f} MB); {dead} dead "
                f"letters kept; `stats` {fields} fields")
    assert grown < BOUND_BYTES, f"Redis grew by {grown} bytes"
    assert fields <= STATS_FIELDS_MAX, client.hkeys(f"{prefix}{c.KEY_STATS}")
    assert dead <= CAP + 100
    client.close()
