"""Correlation against hostile or odd receipts (issue 10, RELIABILITY.md "Round 2").

Forged receipts that name a client-ref, a message-id guessed ahead of the real one, a
client-ref two sends share, a receipt for a send that is queued again, and a status cut
off in transit: none of them may settle a send they are not for.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from worker import constants as c
from worker.config import Settings
from worker.correlate.correlator import Correlator
from worker.records.deadletters import DeadLetters
from worker.records.store import RecordStore, new_request_id
from worker.states import State

TO = "16365553226"
OTHER = "16365550199"


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> RecordStore:
    return RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)


@pytest.fixture
def correlator(settings: Settings, redis_client: redis.Redis) -> Correlator:
    made = Correlator(settings, redis_client, consumer="c1", block_ms=10)
    made.ensure_group()
    return made


def _created(store: RecordStore, *, to: str = TO, client_ref: str | None = None) -> str:
    rid = new_request_id()
    store.create(rid, None, store.new_record(rid, to=to, pin="1234", client_ref=client_ref, params=None,
                                             expires_at=time.time() + 300))
    return rid


def _sending(store: RecordStore, **kw: Any) -> str:
    rid = _created(store, **kw)
    assert store.claim(rid).verdict == "ok"
    return rid


def _submit(store: RecordStore, rid: str, message_id: str) -> None:
    store.finish(rid, State.SUBMITTED, message_id=message_id,
                 fields={"message_id": message_id, "submitted_at": f"{time.time():.3f}"})


def _submitted(store: RecordStore, message_id: str, **kw: Any) -> str:
    rid = _sending(store, **kw)
    _submit(store, rid, message_id)
    return rid


def _push(client: redis.Redis, settings: Settings, fields: dict[str, str]) -> None:
    receipt = {"received_at": f"{time.time():.3f}", **fields}
    client.xadd(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}", receipt)  # type: ignore[arg-type]


def _receipt(message_id: str, status: str, **extra: str) -> dict[str, str]:
    return {"messageId": message_id, "status": status, "msisdn": TO, "err-code": "0", **extra}


def _drain(correlator: Correlator) -> list[str]:
    verdicts: list[str] = []
    while entries := correlator.read(block_ms=10):
        verdicts += correlator.apply(entries)
    return verdicts


def _dead_receipts(redis_client: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    """Each dead receipt, newest first, as `pinrelay dead show receipts ID` finds it by its id."""
    dead = DeadLetters(redis_client, settings.key_prefix)
    return [(dead.detail("receipts", member) or {"receipts": [{}]})["receipts"][0]
            for member, _ in dead.list("receipts", limit=1000)]


def test_forged_receipt_naming_a_client_ref_cannot_settle_a_submitted_send(
    settings: Settings, store: RecordStore, redis_client: redis.Redis, correlator: Correlator
) -> None:
    """Issue 10 finding 1: an unsigned receipt with a made-up message-id and the send's client-ref
    (and no msisdn) leaves a send submitted under another message-id alone; it waits, then is a
    dead letter at the grace period."""
    rid = _submitted(store, "0A00000000000001", client_ref="acct-42")
    forged = {"messageId": "FORGED1", "status": "failed", "err-code": "EVIL", "client-ref": "acct-42"}
    _push(redis_client, settings, forged)
    assert _drain(correlator) == ["parked"]
    assert store.get(rid)["state"] == "submitted"
    assert correlator.sweep(now=time.time() + settings.receipt_grace_s + 1) == 1
    assert store.get(rid)["state"] == "submitted"
    assert not any(k.startswith("receipt:failed") for k in store.stats())
    # the genuine receipt still settles the send
    _push(redis_client, settings, _receipt("0A00000000000001", "delivered"))
    assert _drain(correlator) == ["applied"]
    assert store.get(rid)["state"] == "delivered"


def test_client_ref_fallback_needs_the_sends_number(
    settings: Settings, store: RecordStore, redis_client: redis.Redis, correlator: Correlator
) -> None:
    """A receipt found only through its client-ref settles a send without a message-id only when
    its msisdn is the send's number: without one, or with another, it waits (and is never applied)."""
    rid = _sending(store, client_ref="acct-7")
    store.finish(rid, State.UNCONFIRMED, fields={"error_text": "no answer"})
    _push(redis_client, settings, {"messageId": "0B01", "status": "failed", "client-ref": "acct-7"})
    _push(redis_client, settings, _receipt("0B02", "failed", msisdn=OTHER, **{"client-ref": "acct-7"}))
    assert _drain(correlator) == ["parked", "parked"]
    assert store.get(rid)["state"] == "unconfirmed"
    _push(redis_client, settings, _receipt("0B03", "delivered", **{"client-ref": "acct-7"}))
    assert _drain(correlator) == ["applied"]
    assert store.get(rid)["state"] == "delivered"


def test_receipt_parked_for_a_guessed_message_id_never_settles_the_send_that_gets_it(
    settings: Settings, store: RecordStore, redis_client: redis.Redis, correlator: Correlator
) -> None:
    """Message-ids are sequential: a forged receipt for the next one, parked before any send got
    it, is set aside when a send does get it, and the genuine receipt settles that send."""
    early = time.time() - 60
    _push(redis_client, settings, _receipt("0C00000000000009", "failed", received_at=f"{early:.3f}",
                                           **{"err-code": "6"}))
    _push(redis_client, settings, {"messageId": "0C0000000000000A", "status": "rejected"})
    assert _drain(correlator) == ["parked", "parked"]
    first = _submitted(store, "0C00000000000009")
    second = _submitted(store, "0C0000000000000A")
    assert [store.get(r)["state"] for r in (first, second)] == ["submitted", "submitted"]
    reasons = sorted(d["reason"] for d in _dead_receipts(redis_client, settings))
    assert reasons == ["early", "mismatch"]
    _push(redis_client, settings, _receipt("0C00000000000009", "delivered"))
    _push(redis_client, settings, _receipt("0C0000000000000A", "delivered"))
    assert _drain(correlator) == ["applied", "applied"]
    assert [store.get(r)["state"] for r in (first, second)] == ["delivered", "delivered"]


def test_genuine_early_receipt_is_still_applied_when_the_send_is_recorded(
    settings: Settings, store: RecordStore, redis_client: redis.Redis, correlator: Correlator
) -> None:
    """A receipt that overtook the worker's write (after the claim, right number) still applies."""
    rid = _sending(store)
    _push(redis_client, settings, _receipt("0D00000000000001", "delivered"))
    assert _drain(correlator) == ["parked"]
    _submit(store, rid, "0D00000000000001")
    assert store.get(rid)["state"] == "delivered"


def test_a_reused_client_ref_resolves_each_send(
    settings: Settings, store: RecordStore, redis_client: redis.Redis, correlator: Correlator
) -> None:
    """Issue 10 finding 5: two sends share the client-ref `login`. B's receipt, which overtakes
    B's message-id, is not taken for A (submitted under another id): it settles B."""
    a = _submitted(store, "0E00000000000001", client_ref="login")
    b = _sending(store, client_ref="login")
    _push(redis_client, settings, _receipt("0E00000000000002", "delivered", **{"client-ref": "login"}))
    assert _drain(correlator) == ["applied"]
    _submit(store, b, "0E00000000000002")
    assert (store.get(a)["state"], store.get(b)["state"]) == ("submitted", "delivered")
    assert store.get(b)["message_id"] == "0E00000000000002"
    _push(redis_client, settings, _receipt("0E00000000000001", "failed", **{"client-ref": "login"}))
    assert _drain(correlator) == ["applied"]
    assert (store.get(a)["state"], store.get(b)["state"]) == ("failed", "delivered")


def test_a_shared_client_ref_is_decided_by_the_number_or_waits(
    settings: Settings, store: RecordStore, redis_client: redis.Redis, correlator: Correlator
) -> None:
    """Two unconfirmed sends with one client-ref: the msisdn picks the send; when both have the
    same number the receipt waits instead of guessing."""
    ones = [_sending(store, client_ref="shared", to=to) for to in (TO, OTHER, OTHER)]
    for rid in ones:
        store.finish(rid, State.UNCONFIRMED, fields={"error_text": "no answer"})
    _push(redis_client, settings, _receipt("0F01", "delivered", **{"client-ref": "shared"}))
    _push(redis_client, settings, _receipt("0F02", "delivered", msisdn=OTHER, **{"client-ref": "shared"}))
    assert _drain(correlator) == ["applied", "ambiguous"]
    assert [store.get(r)["state"] for r in ones] == ["delivered", "unconfirmed", "unconfirmed"]


def test_receipt_for_a_queued_send_is_stale_and_binds_nothing(
    settings: Settings, store: RecordStore, redis_client: redis.Redis, correlator: Correlator
) -> None:
    """A send released to `queued` (say after a 502) gets a receipt for the earlier attempt: it is
    discarded as stale, and later receipts for that message-id do not settle the send, which has
    been submitted under a new one since."""
    rid = _sending(store)
    store.finish(rid, State.QUEUED, fields={"error_text": "HTTP 502"})
    _push(redis_client, settings, _receipt("1A01", "accepted", **{"client-ref": rid}))
    assert _drain(correlator) == ["stale"]
    assert store.get(rid)["state"] == "queued"
    assert store.claim(rid).verdict == "ok"
    _submit(store, rid, "1A02")
    _push(redis_client, settings, _receipt("1A01", "delivered", **{"client-ref": rid}))
    assert _drain(correlator) == ["parked"]
    assert store.get(rid)["state"] == "submitted"
    _push(redis_client, settings, _receipt("1A02", "delivered", **{"client-ref": rid}))
    assert _drain(correlator) == ["applied"]
    assert store.get(rid)["state"] == "delivered"


def test_unrecognised_status_is_a_dead_letter_and_the_send_keeps_its_state(
    settings: Settings, store: RecordStore, redis_client: redis.Redis, correlator: Correlator
) -> None:
    """Issue 10 finding 7: `status=de` (a body cut off in transit) is never final: the raw receipt
    goes to the dead letters, the send stays submitted, and the provider's retry applies."""
    rid = _submitted(store, "1B00000000000001")
    _push(redis_client, settings, _receipt("1B00000000000001", "de"))
    assert _drain(correlator) == ["invalid"]
    assert store.get(rid)["state"] == "submitted"
    (dead,) = _dead_receipts(redis_client, settings)
    assert dead["reason"] == "invalid_status"
    assert dead["receipt"]["status"] == "de" and dead["message_id"] == "1B00000000000001"
    _push(redis_client, settings, _receipt("1B00000000000001", "delivered"))
    assert _drain(correlator) == ["applied"]
    assert store.get(rid)["state"] == "delivered"
