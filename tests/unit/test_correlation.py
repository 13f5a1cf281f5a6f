"""Correlation against a real Redis: races, duplicates, out-of-order, unknown ids, dead consumers."""

from __future__ import annotations

import time

import pytest
import redis

from worker import constants as c
from worker.config import Settings
from worker.correlate.correlator import Correlator
from worker.records.deadletters import DeadLetters
from worker.records.store import RecordStore, new_request_id
from worker.states import State

TO = "16365553226"


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> RecordStore:
    return RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)


def _correlator(settings: Settings, client: redis.Redis, name: str = "c1", **kw: int) -> Correlator:
    correlator = Correlator(settings, client, consumer=name, block_ms=10, **kw)
    correlator.ensure_group()
    return correlator


def _submitted(store: RecordStore, message_id: str, *, client_ref: str | None = None) -> str:
    rid = new_request_id()
    argv = store.new_record(rid, to=TO, pin="1234", client_ref=client_ref, params=None,
                            expires_at=time.time() + 300)
    store.create(rid, None, argv)
    assert store.claim(rid).verdict == "ok"
    store.finish(rid, State.SUBMITTED, message_id=message_id,
                 fields={"message_id": message_id, "submitted_at": f"{time.time():.3f}"})
    return rid


def _push(client: redis.Redis, settings: Settings, message_id: str, status: str, **extra: str) -> None:
    fields = {"messageId": message_id, "status": status, "msisdn": TO, "err-code": "0",
              "network-code": "310004", "price": "0.0333", "received_at": f"{time.time():.3f}", **extra}
    client.xadd(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}", fields)


def _drain(correlator: Correlator) -> list[str]:
    verdicts: list[str] = []
    while True:
        entries = correlator.read(block_ms=10)
        if not entries:
            return verdicts
        verdicts += correlator.apply(entries)


def test_delivered_receipt_settles_the_record(settings: Settings, store: RecordStore,
                                              redis_client: redis.Redis) -> None:
    """A delivered receipt moves submitted -> delivered with err_code, network, price, receipt_at."""
    rid = _submitted(store, "AAAA000000000001")
    _push(redis_client, settings, "AAAA000000000001", "delivered")
    assert _drain(_correlator(settings, redis_client)) == ["applied"]
    record = store.get(rid)
    assert record["state"] == "delivered" and record["receipt_status"] == "delivered"
    assert record["err_code"] == "0" and record["network"] == "310004" and record["receipt_at"]


def test_receipt_before_send_is_parked_then_applied(settings: Settings, store: RecordStore,
                                                   redis_client: redis.Redis) -> None:
    """A receipt for a message-id not yet recorded waits, and applies when the send is recorded."""
    _push(redis_client, settings, "BBBB000000000001", "delivered")
    assert _drain(_correlator(settings, redis_client)) == ["parked"]
    rid = _submitted(store, "BBBB000000000001")
    assert store.get(rid)["state"] == "delivered"
    assert not redis_client.zscore(f"{settings.key_prefix}{c.KEY_PARKED}", "BBBB000000000001")


def test_duplicates_are_idempotent(settings: Settings, store: RecordStore,
                                   redis_client: redis.Redis) -> None:
    """The same receipt twice changes nothing the second time and is counted."""
    rid = _submitted(store, "CCCC000000000001")
    _push(redis_client, settings, "CCCC000000000001", "delivered")
    _push(redis_client, settings, "CCCC000000000001", "delivered")
    assert _drain(_correlator(settings, redis_client)) == ["applied", "duplicate"]
    assert store.get(rid)["state"] == "delivered"
    assert store.stats()["receipts_duplicate"] == 1


def test_late_intermediate_never_overwrites_final(settings: Settings, store: RecordStore,
                                                  redis_client: redis.Redis) -> None:
    """delivered then a late accepted: the record stays delivered."""
    rid = _submitted(store, "DDDD000000000001")
    _push(redis_client, settings, "DDDD000000000001", "delivered")
    _push(redis_client, settings, "DDDD000000000001", "accepted")
    _push(redis_client, settings, "DDDD000000000001", "failed", **{"err-code": "7"})
    assert _drain(_correlator(settings, redis_client)) == ["applied", "stale", "stale"]
    assert store.get(rid)["state"] == "delivered"


def test_intermediate_then_final(settings: Settings, store: RecordStore,
                                 redis_client: redis.Redis) -> None:
    """accepted then failed: the final receipt wins with its err-code."""
    rid = _submitted(store, "EEEE000000000001")
    _push(redis_client, settings, "EEEE000000000001", "accepted")
    _push(redis_client, settings, "EEEE000000000001", "FAILED", **{"err-code": "7"})
    assert _drain(_correlator(settings, redis_client)) == ["applied", "applied"]
    record = store.get(rid)
    assert record["state"] == "failed" and record["err_code"] == "7"


def test_unknown_status_is_never_final(settings: Settings, store: RecordStore,
                                       redis_client: redis.Redis) -> None:
    """An undocumented status value is a dead letter; the record keeps its state (it used to
    become the final `unknown`, which a cut-off `status=de` turned into a lost receipt)."""
    rid = _submitted(store, "FFFF000000000001")
    _push(redis_client, settings, "FFFF000000000001", "weird")
    assert _drain(_correlator(settings, redis_client)) == ["invalid"]
    assert store.get(rid)["state"] == "submitted"


def test_unknown_message_id_goes_unmatched_after_grace(settings: Settings, store: RecordStore,
                                                       redis_client: redis.Redis) -> None:
    """A receipt nobody claims is parked, then moved to the inspectable receipt dead letters."""
    _push(redis_client, settings, "9999000000000001", "delivered")
    correlator = _correlator(settings, redis_client)
    assert _drain(correlator) == ["parked"]
    assert correlator.sweep(now=time.time() + settings.receipt_grace_s + 1) == 1
    (dead,) = DeadLetters(redis_client, settings.key_prefix).receipts()
    assert (dead["reason"], dead["message_id"], dead["receipt"]["status"]) == (
        "unmatched", "9999000000000001", "delivered")
    assert store.stats()["receipts_unmatched"] == 1


def test_msisdn_mismatch_is_not_applied(settings: Settings, store: RecordStore,
                                        redis_client: redis.Redis) -> None:
    """A receipt whose msisdn differs from the send's number is set aside, not applied."""
    rid = _submitted(store, "ABAB000000000001")
    _push(redis_client, settings, "ABAB000000000001", "delivered", msisdn="16365550000")
    assert _drain(_correlator(settings, redis_client)) == ["mismatch"]
    assert store.get(rid)["state"] == "submitted"


def test_client_ref_settles_an_unconfirmed_send(settings: Settings, store: RecordStore,
                                                redis_client: redis.Redis) -> None:
    """An unconfirmed send (no message-id) is settled by a receipt carrying our client-ref."""
    rid = new_request_id()
    store.create(rid, None, store.new_record(rid, to=TO, pin="1234", client_ref=None, params=None,
                                             expires_at=time.time() + 300))
    store.claim(rid)
    store.finish(rid, State.UNCONFIRMED, fields={"error_text": "no answer"})
    _push(redis_client, settings, "CDCD000000000001", "delivered", **{"client-ref": rid})
    assert _drain(_correlator(settings, redis_client)) == ["applied"]
    record = store.get(rid)
    assert record["state"] == "delivered" and record["message_id"] == "CDCD000000000001"


def test_callers_client_ref_settles_an_unconfirmed_send(settings: Settings, store: RecordStore,
                                                        redis_client: redis.Redis) -> None:
    """The fallback also works when the caller chose the client-ref."""
    rid = new_request_id()
    store.create(rid, None, store.new_record(rid, to=TO, pin="1234", client_ref="login-7f3a",
                                             params=None, expires_at=time.time() + 300))
    store.claim(rid)
    store.finish(rid, State.UNCONFIRMED, fields={"error_text": "no answer"})
    _push(redis_client, settings, "CDCD000000000002", "delivered", **{"client-ref": "login-7f3a"})
    assert _drain(_correlator(settings, redis_client)) == ["applied"]
    assert store.get(rid)["state"] == "delivered"


def test_poisoned_receipt_is_set_aside_and_the_batch_goes_on(settings: Settings, store: RecordStore,
                                                             redis_client: redis.Redis) -> None:
    """A receipt that makes the script fail is dead-lettered; the rest of its batch applies."""
    good = _submitted(store, "GOOD000000000002")
    # A message index pointing at a key of the wrong type makes the script's HMGET fail.
    redis_client.set(f"{settings.key_prefix}{c.KEY_MESSAGE_INDEX}BAD0000000000001", "broken")
    redis_client.set(store.key("broken"), "not a hash")
    _push(redis_client, settings, "BAD0000000000001", "delivered", received_at="not-a-number")
    _push(redis_client, settings, "GOOD000000000002", "delivered")
    assert _drain(_correlator(settings, redis_client)) == ["error", "applied"]
    assert store.get(good)["state"] == "delivered"
    assert [d["reason"] for d in DeadLetters(redis_client, settings.key_prefix).receipts()] == ["error"]
    assert redis_client.xlen(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}") == 0


def test_dead_consumer_entries_are_reclaimed(settings: Settings, store: RecordStore,
                                             redis_client: redis.Redis) -> None:
    """Entries read by a consumer that died before acknowledging are taken over by another."""
    rid = _submitted(store, "DEAD000000000001")
    _push(redis_client, settings, "DEAD000000000001", "delivered")
    dead = _correlator(settings, redis_client, name="dies")
    assert len(dead.read(block_ms=10)) == 1  # read, never applied or acknowledged
    survivor = _correlator(settings, redis_client, name="survives", claim_idle_ms=0)
    assert survivor.run_once(block_ms=10) == 1
    assert store.get(rid)["state"] == "delivered"
    assert redis_client.xlen(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}") == 0


def test_malformed_entry_does_not_stop_the_batch(settings: Settings, store: RecordStore,
                                                 redis_client: redis.Redis) -> None:
    """An entry without messageId is set aside; the rest of the batch applies."""
    rid = _submitted(store, "GOOD000000000001")
    redis_client.xadd(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}", {"status": "delivered"})
    _push(redis_client, settings, "GOOD000000000001", "delivered")
    assert _drain(_correlator(settings, redis_client)) == ["malformed", "applied"]
    assert store.get(rid)["state"] == "delivered"


def test_queued_send_whose_task_vanished_is_republished(settings: Settings, store: RecordStore,
                                                        redis_client: redis.Redis) -> None:
    """A queued send nobody claimed for longer than the visibility timeout is published again."""
    rid = new_request_id()
    store.create(rid, None, store.new_record(rid, to=TO, pin="1234", client_ref=None, params=None,
                                             expires_at=time.time() + 3000))
    republished: list[list[str]] = []
    correlator = Correlator(settings, redis_client, consumer="c", republish=republished.append)
    assert correlator.republish_lost() == []  # just published: not lost yet
    later = time.time() + settings.visibility_timeout_s + c.LOST_TASK_GRACE_S + 1
    assert correlator.republish_lost(now=later) == [rid]
    assert correlator.republish_lost(now=later + 1) == []  # at most once per grace period
    assert store.claim(rid).verdict == "ok"
    store.finish(rid, State.SUBMITTED, message_id="PEND000000000001")
    assert not redis_client.zscore(store.pending_key, rid)  # finished: no longer pending
