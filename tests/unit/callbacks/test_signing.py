"""X-Pinrelay-Signature: the HMAC over "<t>.<body>", and what a receiver's check accepts."""

from __future__ import annotations

import hashlib
import hmac

from worker.callbacks.signing import sign, verify

SECRET = "cb-secret-0123456789abcdef0123456789abcdef"
BODY = b'{"id":"r1","state":"delivered"}'


def test_the_header_is_t_and_v1_over_timestamp_dot_body() -> None:
    """The documented formula, computed independently here."""
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == f"t=1700000000,v1={expected}"


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
