"""X-Pinrelay-Signature: v1 over "<t>.<body>", v2 over "<t>.<event id>.<key id>.<body>", and what a
receiver's check accepts."""

from __future__ import annotations

import hashlib
import hmac

from worker.callbacks.signing import sign, verify, verify_v2

SECRET = "cb-secret-0123456789abcdef0123456789abcdef"
BODY = b'{"id":"r1","state":"delivered"}'


def test_the_header_is_t_v1_and_v2() -> None:
    """The documented formulas, computed independently here: v1 unchanged, v2 with the event and key ids."""
    v1 = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    v2 = hmac.new(SECRET.encode(), b"1700000000.ev-1.key_ab." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY, event_id="ev-1", key_id="key_ab") == f"t=1700000000,v1={v1},v2={v2}"


def test_v2_cannot_be_re_aimed_at_another_key_or_event() -> None:
    """The same body signed for key A fails the check of key B, and a fresh event id fails too."""
    header = sign(SECRET, 1700000000, BODY, event_id="ev-1", key_id="key_a")
    assert verify_v2(SECRET, header, BODY, "ev-1", "key_a", now=1700000000)
    assert not verify_v2(SECRET, header, BODY, "ev-1", "key_b", now=1700000000)
    assert not verify_v2(SECRET, header, BODY, "ev-2", "key_a", now=1700000000)
    assert not verify_v2(SECRET, header, BODY, "ev-1", "key_a", now=1700000000 + 301)
    assert verify(SECRET, header, BODY, now=1700000000)  # v1 checkers keep working


def test_verify_accepts_its_own_signature_within_the_window() -> None:
    header = sign(SECRET, 1700000000, BODY)
    assert verify(SECRET, header, BODY, now=1700000100)


def test_verify_refuses_a_changed_body_a_wrong_secret_or_an_old_timestamp() -> None:
    header = sign(SECRET, 1700000000, BODY)
    assert not verify(SECRET, header, BODY + b" ", now=1700000000)
    assert not verify("another-secret-0123456789abcdef01234", header, BODY, now=1700000000)
    assert not verify(SECRET, header, BODY, now=1700000000 + 301)
    assert not verify(SECRET, "v1=abc", BODY, now=1700000000)
    assert not verify(SECRET, "t=x,v1=abc", BODY, now=1700000000)


def test_a_timestamp_changed_in_transit_breaks_the_signature() -> None:
    """The timestamp is inside the MAC, so a replay cannot simply refresh it."""
    header = sign(SECRET, 1700000000, BODY).replace("t=1700000000", "t=1700000200")
    assert not verify(SECRET, header, BODY, now=1700000200)
