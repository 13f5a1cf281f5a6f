"""Every status transition of a verification, against real Redis and the real send path's records.

The verifier sends through a real :class:`Producer` (records, PIN keys, idempotency keys and
task messages land in Redis; no worker runs), and reports conversions to a recorder, so
each test sees exactly which sends were reported and how.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
import redis

from tests.unit.verify.sendpath import RecordingSendPath
from worker import constants as c
from worker.config import Settings
from worker.errors import AbuseLimitError, ConfigError, ValidationError
from worker.verify import codes
from worker.verify.errors import ResendRefusedError, UnknownVerificationError
from worker.verify.service import Verifier
from worker.verify.store import VerifyStore

TO = "16365553226"


def _past_expiry(verifier: Verifier, vid: str) -> None:
    """Until Redis's clock (the one the scripts use) is past the verification's expiry."""
    expires = float(verifier.store.get_raw(vid)["expires_at"])
    deadline = time.monotonic() + 5
    while (now := verifier.store.client.time())[0] + now[1] / 1e6 < expires:
        assert time.monotonic() < deadline, "Redis's clock did not pass the expiry"
        time.sleep(0.02)


def _wrong(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def test_start_sends_one_code_through_the_send_path(verifier: Verifier, sender: RecordingSendPath,
                                                    booked: list[tuple[str, float]]) -> None:
    """start: a pending verification, one send recorded with the verification's idempotency key."""
    vid = verifier.start(TO, client_ref="login-1")
    view = verifier.get(vid)
    assert view["state"] == "pending" and view["to"] == "1636555****" and view["client_ref"] == "login-1"
    assert view["attempts_left"] == 5 and view["length"] == 6 and len(view["sends"]) == 1
    record = sender.producer.store.get_raw(view["sends"][0]["request_id"])
    assert record["idempotency_key"] == f"verify:{vid}:1" and record["state"] == "queued"
    assert len(sender.codes[0]) == 6
    assert booked == [(vid, 300.5)]


def test_the_right_code_approves_once_then_used(verifier: Verifier, sender: RecordingSendPath) -> None:
    """approved, and every later check (right or wrong) answers used without counting."""
    vid = verifier.start(TO)
    assert verifier.check(vid, sender.codes[0]) == {"id": vid, "status": "approved", "attempts_left": 5}
    assert verifier.check(vid, sender.codes[0])["status"] == "used"
    assert verifier.check(vid, _wrong(sender.codes[0])) == {"id": vid, "status": "used", "attempts_left": 5}
    view = verifier.get(vid)
    assert view["state"] == "approved" and view["approved_at"] and view["sends"][0]["approved"]


def test_wrong_codes_count_down_and_the_fifth_locks(verifier: Verifier, sender: RecordingSendPath) -> None:
    """wrong_code with 4, 3, 2, 1 left, then locked; the right code afterwards is still locked."""
    vid = verifier.start(TO)
    wrong = _wrong(sender.codes[0])
    assert [verifier.check(vid, wrong)["attempts_left"] for _ in range(4)] == [4, 3, 2, 1]
    assert verifier.check(vid, wrong) == {"id": vid, "status": "locked", "attempts_left": 0}
    assert verifier.check(vid, sender.codes[0])["status"] == "locked"
    assert verifier.get(vid)["state"] == "locked"


def test_a_resend_never_resets_the_count(verifier: Verifier, sender: RecordingSendPath) -> None:
    """Two wrong, resend, three wrong: locked, and the new code no longer helps."""
    vid = verifier.start(TO)
    for _ in range(2):
        assert verifier.check(vid, "0" * 7)["status"] == "wrong_code"
    assert verifier.resend(vid) == vid
    new = sender.codes[1]
    statuses = [verifier.check(vid, _wrong(new))["status"] for _ in range(3)]
    assert statuses == ["wrong_code", "wrong_code", "locked"]
    assert verifier.check(vid, new)["status"] == "locked"


def test_a_resend_invalidates_the_old_code(
    verifier: Verifier, sender: RecordingSendPath, redis_client: redis.Redis, vsettings: Settings
) -> None:
    """After a resend the first code is a wrong code (and its PIN key is gone); the new one approves."""
    vid = verifier.start(TO)
    verifier.resend(vid)
    old, new = sender.codes
    sends = verifier.get(vid)["sends"]
    assert redis_client.exists(f"{vsettings.key_prefix}{c.KEY_PIN}{sends[0]['request_id']}") == 0
    if old != new:
        assert verifier.check(vid, old)["status"] == "wrong_code"
    assert verifier.check(vid, new)["status"] == "approved"
    assert [s["approved"] for s in verifier.get(vid)["sends"]] == [False, True]


def test_at_most_max_sends(verifier: Verifier) -> None:
    """The fourth send of a verification (default 3) is refused, naming the limit."""
    vid = verifier.start(TO)
    verifier.resend(vid)
    verifier.resend(vid)
    with pytest.raises(ResendRefusedError, match="all 3 sends are used") as refused:
        verifier.resend(vid)
    assert refused.value.reason == "max_sends"
    assert len(verifier.get(vid)["sends"]) == 3


def test_no_resend_after_the_end(verifier: Verifier, sender: RecordingSendPath) -> None:
    """An approved verification gets no new code."""
    vid = verifier.start(TO)
    verifier.check(vid, sender.codes[0])
    with pytest.raises(ResendRefusedError, match="ended \\(approved\\)"):
        verifier.resend(vid)


def test_an_expired_code_answers_expired(verifier: Verifier, sender: RecordingSendPath) -> None:
    """Past its TTL the right code answers expired, and the verification is expired."""
    vid = verifier.start(TO, ttl=1)
    _past_expiry(verifier, vid)
    assert verifier.check(vid, sender.codes[0]) == {"id": vid, "status": "expired", "attempts_left": 0}
    assert verifier.get(vid)["state"] == "expired"
    with pytest.raises(ResendRefusedError, match="expired"):
        verifier.resend(vid)


def test_the_sweep_ends_unchecked_verifications(
    verifier: Verifier, sender: RecordingSendPath, vsettings: Settings, redis_client: redis.Redis
) -> None:
    """expire() ends what ran out (and only that), and reports its send delivered=false."""
    gone = verifier.start(TO, ttl=1)
    kept = verifier.start("16365553227", ttl=60)
    _past_expiry(verifier, gone)
    assert verifier.expire() == [gone]
    assert redis_client.hget(f"{vsettings.key_prefix}{c.KEY_VERIFICATION}{kept}", "state") == b"pending"
    [(rid, delivered, at)] = sender.conversions
    assert rid == verifier.get(gone)["sends"][0]["request_id"] and delivered is False and at
    assert verifier.expire() == []


@pytest.mark.parametrize("vid", ["0" * 32, "not-an-id", "", "f" * 5000])
def test_an_unknown_id_answers_unknown(verifier: Verifier, vid: str) -> None:
    """Unknown or malformed ids: unknown, 0 left; resend and status raise UnknownVerificationError."""
    assert verifier.check(vid, "123456") == {"id": vid, "status": "unknown", "attempts_left": 0}
    assert verifier.check(vid, "x" * 100)["status"] == "unknown"
    with pytest.raises(UnknownVerificationError):
        verifier.resend(vid)
    with pytest.raises(UnknownVerificationError):
        verifier.get(vid)


@pytest.mark.parametrize("typed", ["1234567890123", "abcdef", "١٢٣٤٥٦", "", "12 345"])
def test_malformed_input_is_a_counted_wrong_code(verifier: Verifier, typed: str) -> None:
    """Too long, non-ASCII-digit or empty input is refused before hashing and counts as a wrong code."""
    vid = verifier.start(TO)
    assert verifier.check(vid, typed) == {"id": vid, "status": "wrong_code", "attempts_left": 4}


def _redis_work(verifier: Verifier, vid: str, typed: str) -> Counter[str]:
    """The Redis commands one check ran, by name and count (scripts' inner commands included)."""
    client = verifier.store.client

    def calls() -> Counter[str]:
        stats: dict[str, Any] = client.info("commandstats")
        return Counter({name: int(row["calls"]) for name, row in stats.items()})

    before = calls()
    verifier.check(vid, typed)
    work = calls() - before
    del work["cmdstat_info"]
    return work


@pytest.mark.parametrize("typed", ["123456", "12345678901"])
def test_unknown_ids_cost_the_same_work(verifier: Verifier, sender: RecordingSendPath,
                                        monkeypatch: pytest.MonkeyPatch, typed: str) -> None:
    """A wrong code for a real id, an unknown id, a malformed one: the same Redis commands, the
    same hashing and comparisons (counted in Redis's ``INFO commandstats`` and around the HMAC)."""
    vid = verifier.start(TO)
    verifier.check(verifier.start("16365553227"), typed)  # loads the check script once
    known = _redis_work(verifier, vid, typed)
    assert known["cmdstat_time"] == 1 and known["cmdstat_hincrby"] == 1 and known["cmdstat_hmget"] == 2
    for other in ("0" * 32, "bad id"):
        assert _redis_work(verifier, other, typed) == known, other
    calls: list[str] = []
    real_hmac, real_match = codes.code_hmac, codes.hmacs_match
    monkeypatch.setattr(codes, "code_hmac", lambda *a: calls.append("hmac") or real_hmac(*a))
    monkeypatch.setattr(codes, "hmacs_match", lambda *a: calls.append("cmp") or real_match(*a))
    for checked in (vid, "0" * 32, "bad id"):
        verifier.check(checked, typed)
        assert calls == ["hmac", "cmp", "cmp"], checked  # the current code's HMAC and the next one's
        calls.clear()


def test_length_and_ttl_outside_the_rules_send_nothing(verifier: Verifier, sender: RecordingSendPath) -> None:
    """length 4 or 11, ttl 0, 601 or past the record TTL: ValidationError before anything is stored
    or sent."""
    for kwargs in ({"length": 4}, {"length": 11}, {"ttl": 0}, {"ttl": 601}):
        with pytest.raises(ValidationError):
            verifier.start(TO, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="to"):
        verifier.start("6365553226")
    verifier.settings = verifier.settings.replace(record_ttl_s=400)
    with pytest.raises(ValidationError, match="PINRELAY_RECORD_TTL"):
        verifier.start(TO, ttl=401)
    assert sender.codes == [] and verifier.store.client.zcard(verifier.store.due_key) == 0


@pytest.mark.parametrize("length", [6, 8, 10])
def test_the_length_is_honoured(verifier: Verifier, sender: RecordingSendPath, length: int) -> None:
    """--length N sends N digits, and those N digits approve."""
    vid = verifier.start(TO, length=length)
    assert len(sender.codes[0]) == length
    assert verifier.check(vid, sender.codes[0])["status"] == "approved"


def test_no_secret_no_verify(verifier: Verifier, sender: RecordingSendPath) -> None:
    """Without PINRELAY_VERIFY_SECRET every call is refused with a ConfigError and sends nothing."""
    verifier.settings = verifier.settings.replace(verify_secret=None)
    for call in (lambda: verifier.start(TO), lambda: verifier.check("0" * 32, "123456"),
                 lambda: verifier.resend("0" * 32)):
        with pytest.raises(ConfigError, match="PINRELAY_VERIFY_SECRET"):
            call()
    assert sender.codes == []


def test_a_refused_first_send_leaves_no_verification(
    verifier: Verifier, sender: RecordingSendPath, redis_client: redis.Redis, vsettings: Settings
) -> None:
    """The per-number limit refusing the first send: the error reaches the caller, nothing remains."""
    sender.refuse = AbuseLimitError("to", "too many PINs", limit="number_10min")
    with pytest.raises(AbuseLimitError):
        verifier.start(TO)
    assert list(redis_client.scan_iter(match=f"{vsettings.key_prefix}verify*")) == []


def test_a_refused_resend_gives_the_slot_back(verifier: Verifier, sender: RecordingSendPath) -> None:
    """A resend the send path refuses changes nothing: the old code still works, no send is used."""
    vid = verifier.start(TO)
    sender.refuse = AbuseLimitError("to", "too many PINs", limit="number_10min")
    with pytest.raises(AbuseLimitError):
        verifier.resend(vid)
    sender.refuse = None
    verifier.resend(vid)
    verifier.resend(vid)  # slots 2 and 3: the refused one was given back
    assert len(verifier.get(vid)["sends"]) == 3


def test_conversions_are_reported_once_each(verifier: Verifier, sender: RecordingSendPath) -> None:
    """Approval reports the approved send delivered=true at the approval time, the replaced one false."""
    vid = verifier.start(TO)
    verifier.resend(vid)
    verifier.check(vid, sender.codes[1])
    view = verifier.get(vid)
    first, second = (s["request_id"] for s in view["sends"])
    reported = {rid: (delivered, at) for rid, delivered, at in sender.conversions}
    assert len(sender.conversions) == 2
    assert reported[second][0] is True and reported[first][0] is False
    approved_at = reported[second][1]
    assert approved_at is not None and abs(approved_at - time.time()) < 5
    assert verifier.report_owed([vid]) == 0 and verifier.expire() == []
    assert len(sender.conversions) == 2


def test_locked_reports_every_send_undelivered(verifier: Verifier, sender: RecordingSendPath) -> None:
    """Locked: each send reported delivered=false, once."""
    vid = verifier.start(TO)
    verifier.resend(vid)
    for _ in range(5):
        verifier.check(vid, "x")
    assert sorted(d for _, d, _ in sender.conversions) == [False, False]
    verifier.report_owed()
    assert len(sender.conversions) == 2


def test_concurrent_right_codes_approve_once(verifier: Verifier, sender: RecordingSendPath) -> None:
    """Eight threads with the right code at once: one approved, seven used."""
    vid = verifier.start(TO)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def check() -> None:
        barrier.wait()
        results.append(verifier.check(vid, sender.codes[0])["status"])

    threads = [threading.Thread(target=check) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["approved"] + ["used"] * 7


def test_concurrent_wrong_codes_are_all_counted(vsettings: Settings, redis_client: redis.Redis,
                                                sender: RecordingSendPath) -> None:
    """Twenty concurrent wrong codes are twenty attempts, counted atomically."""
    store = VerifyStore(redis_client, prefix=vsettings.key_prefix, ttl_s=60)
    verifier = Verifier(vsettings.replace(verify_max_attempts=50), store, sender)
    vid = verifier.start(TO)
    barrier = threading.Barrier(20)

    def check() -> None:
        barrier.wait()
        verifier.check(vid, "x")

    threads = [threading.Thread(target=check) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verifier.get(vid)["attempts"] == 20


def test_the_record_never_holds_the_code(verifier: Verifier, sender: RecordingSendPath,
                                         redis_client: redis.Redis, vsettings: Settings) -> None:
    """The verification hash holds the HMAC while pending and nothing after; the view shows neither."""
    vid = verifier.start(TO)
    key = f"{vsettings.key_prefix}{c.KEY_VERIFICATION}{vid}"
    raw = {k.decode(): v.decode() for k, v in redis_client.hgetall(key).items()}
    code = sender.codes[0]
    assert code not in raw.values() and len(raw["hash"]) == 64
    assert "hash" not in verifier.get(vid) and code not in str(verifier.get(vid))
    verifier.check(vid, code)
    assert redis_client.hget(key, "hash") is None
