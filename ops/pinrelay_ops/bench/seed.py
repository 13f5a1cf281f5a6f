"""A correlation backlog: submitted send records and a stream of receipts for them.

Records go through the same Lua scripts, in the same order, as a real send
(CREATE at enqueue, CLAIM before the provider call, FINISH with the message-id
after it), only pipelined, so their shape and size are what production
stores. Receipts are what the receiver puts on the stream: every signed field
plus ``received_at``.
"""

from __future__ import annotations

import time

import redis

from pinrelay_ops.bench.plan import SEED_BATCH
from pinrelay_ops.bench.receipt_pool import NETWORK, PRICE, message_id, number, receipt_fields
from pinrelay_ops.bench.sending.variants import pin
from webhook.receipts import Receipt
from worker import constants as c
from worker.config import Settings
from worker.records.store import CLAIM, FINISH, RecordStore
from worker.states import State
from worker.text import to_text


def seed_records(client: redis.Redis, settings: Settings, count: int) -> list[str]:
    """``count`` records in state ``submitted``, message-ids ``message_id(0..count-1)``."""
    store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
    claim = client.register_script(CLAIM)
    finish = client.register_script(FINISH)
    prefix, ttl = settings.key_prefix, str(settings.record_ttl_s)
    ids = [f"seed{i:028d}" for i in range(count)]
    for start in range(0, count, SEED_BATCH):
        now = time.time()
        stamp = f"{now:.3f}"
        chunk = range(start, min(count, start + SEED_BATCH))
        store.create_many([(ids[i], None, store.new_record(
            ids[i], to=number(i), pin=pin(i), client_ref=None, params=None,
            expires_at=now + settings.pin_expiry_s, now=now)) for i in chunk])
        pipe = client.pipeline(transaction=False)
        for i in chunk:
            keys = [store.key(ids[i]), store.pin_key(ids[i])]
            claim(keys=keys, args=[stamp, prefix], client=pipe)
            # the argv of RecordStore.finish for what worker.send.delivery records on acceptance
            finish(keys=keys, client=pipe, args=[
                prefix, stamp, State.SUBMITTED.value, ttl, message_id(i),
                "provider_status", "0", "message_id", message_id(i), "submitted_at", stamp,
                "network", NETWORK, "price", PRICE, "error_text", ""])
        pipe.execute()
    state = store.get_raw(ids[-1]).get("state") if ids else State.SUBMITTED.value
    if state != State.SUBMITTED.value:
        raise RuntimeError(f"seeded record is {state!r}, not submitted: the store's scripts changed")
    return ids


def seed_receipts(client: redis.Redis, settings: Settings, count: int) -> None:
    """A final ``delivered`` receipt per seeded record, on ``{prefix}receipts``."""
    stream = settings.key_prefix + c.KEY_RECEIPTS_STREAM
    for start in range(0, count, SEED_BATCH):
        now = time.time()
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + SEED_BATCH)):
            fields = Receipt(receipt_fields(i, settings, now)).stream_fields(now)
            pipe.xadd(stream, dict(fields))
        pipe.execute()


def states(client: redis.Redis, settings: Settings, ids: list[str]) -> list[str]:
    store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
    pipe = client.pipeline(transaction=False)
    for rid in ids:
        pipe.hget(store.key(rid), "state")
    return [to_text(v) for v in pipe.execute()]
