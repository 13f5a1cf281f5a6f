"""Property test of the other receipt parser: the correlator's Lua script, on a real Redis.

The correlator applies a whole batch in one script call, so one receipt that made
the script raise would block every receipt behind it. Whatever the receiver can
put on the stream (any field names and values, any status, known or unknown
message-ids, right or wrong msisdn, in any order and repeated), the batch gives
one known verdict per entry, and no record leaves a final state.
"""

from __future__ import annotations

import time

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.config import Settings
from worker.correlate.correlator import Correlator
from worker.records.store import RecordStore, new_request_id
from worker.states import FINAL_STATES, State

TO = "16365553226"
MESSAGE_IDS = ("0A00000000000001", "0A00000000000002", "0A00000000000003")
VERDICTS = frozenset({"applied", "duplicate", "stale", "mismatch", "parked", "ambiguous", "malformed", "gone",
                      "invalid"})
FINAL = frozenset(s.value for s in FINAL_STATES)
STATES = frozenset(s.value for s in State)

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
receipt_fields = st.fixed_dictionaries(
    {
        "messageId": st.sampled_from(MESSAGE_IDS) | text,
        "status": st.sampled_from(["delivered", "accepted", "buffered", "failed", "expired", "rejected",
                                   "unknown", "DELIVERED", "queued", "sending", ""]) | text,
        "msisdn": st.sampled_from([TO, "16365550000", ""]) | text,
    },
    optional={"err-code": text, "network-code": text, "price": text, "client-ref": text, "_entry": text},
).flatmap(
    lambda base: st.dictionaries(
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12), text, max_size=4
    ).map(lambda extra: {**extra, **base})
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(receipt_fields, min_size=1, max_size=12))
def test_any_receipt_batch_gets_a_verdict_per_entry_and_finals_hold(
    settings: Settings, redis_client: redis.Redis, batch: list[dict[str, str]]
) -> None:
    """Any batch of receiver-shaped receipts is applied without an error, one known verdict
    each, and a record in a final state stays in it."""
    store = RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=600)
    correlator = Correlator(settings, redis_client, consumer="prop", block_ms=1)
    correlator.ensure_group()
    records = [_submitted(store, mid) for mid in MESSAGE_IDS]
    entries = [
        (f"{i + 1}-0".encode(), {k.encode(): v.encode() for k, v in
                                 {**fields, "received_at": f"{time.time():.6f}"}.items()})
        for i, fields in enumerate(batch)
    ]
    verdicts = correlator.apply(entries)
    assert len(verdicts) == len(batch) and set(verdicts) <= VERDICTS, verdicts
    settled = {rid: store.get_raw(rid)["state"] for rid in records}
    assert set(settled.values()) <= STATES
    again = correlator.apply(entries[::-1])  # the same receipts again, in the other order
    assert len(again) == len(batch) and set(again) <= VERDICTS, again
    for rid, state in settled.items():
        if state in FINAL:
            assert store.get_raw(rid)["state"] == state


def _submitted(store: RecordStore, message_id: str) -> str:
    """The record the message-id index points at (a fresh one per example, so states vary)."""
    rid = new_request_id()
    store.create(rid, None, store.new_record(rid, to=TO, pin="1234", client_ref=None, params=None,
                                             expires_at=time.time() + 300))
    store.claim(rid)
    store.finish(rid, State.SUBMITTED, message_id=message_id,
                 fields={"message_id": message_id, "submitted_at": f"{time.time():.3f}"})
    return rid
