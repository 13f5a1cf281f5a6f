"""``X-Pinrelay-Signature``: what a callback receiver checks to know the POST came from pinrelay,
and was meant for it.

``t=<unix seconds>,v1=<hex>,v2=<hex>``, Stripe's scheme (the timestamp inside the MAC, so a
receiver that also refuses old timestamps refuses a replayed request):

* ``v1`` = HMAC-SHA256(secret, ``"<t>.<body>"``), as before: existing checkers keep working;
* ``v2`` = HMAC-SHA256(secret, ``"<t>.<event id>.<key id>.<body>"``): the event id
  (``X-Pinrelay-Event-Id``) and the API key id (``X-Pinrelay-Key-Id``; the empty string for a
  send made without a key) are signed too, so a callback cannot be re-aimed: a key holder who
  starts a verification with another service's ``client_ref`` gets a callback signed for *its*
  key id, which that service's checker (comparing the key id with its own) refuses, and cannot
  swap the event id for a fresh one (issue 23 finding 6).

The secret is the API key's own callback secret when it has one (``pinrelay keys create NAME
--callback-secret``), else ``PINRELAY_CALLBACK_SECRET``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

HEADER: Final = "X-Pinrelay-Signature"
EVENT_HEADER: Final = "X-Pinrelay-Event-Id"
KEY_HEADER: Final = "X-Pinrelay-Key-Id"
DEFAULT_TOLERANCE_S: Final = 300


def mac(secret: str, timestamp: int, body: bytes) -> str:
    """``v1``: the hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def mac_v2(secret: str, timestamp: int, event_id: str, key_id: str, body: bytes) -> str:
    """``v2``: the hex HMAC-SHA256 of ``"<timestamp>.<event id>.<key id>.<body>"``."""
    message = f"{timestamp}.{event_id}.{key_id}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes, *, event_id: str = "", key_id: str = "") -> str:
    """The header value for ``body`` sent at ``timestamp`` for ``event_id`` on behalf of ``key_id``."""
    return (f"t={timestamp},v1={mac(secret, timestamp, body)},"
            f"v2={mac_v2(secret, timestamp, event_id, key_id, body)}")


def _fields(header: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    return fields


def _timestamp(fields: dict[str, list[str]], now: float, tolerance_s: float) -> int | None:
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return None
    return timestamp if abs(now - timestamp) <= tolerance_s else None


def verify(secret: str, header: str, body: bytes, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """Whether ``header``'s ``v1`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``."""
    fields = _fields(header)
    timestamp = _timestamp(fields, now, tolerance_s)
    if timestamp is None:
        return False
    expected = mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))


def verify_v2(secret: str, header: str, body: bytes, event_id: str, key_id: str, now: float,
              tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """Whether ``header``'s ``v2`` signs ``body``, ``event_id`` and ``key_id`` (the receiver's own
    key id, not the one the request claims) with ``secret`` within ``tolerance_s`` of ``now``."""
    fields = _fields(header)
    timestamp = _timestamp(fields, now, tolerance_s)
    if timestamp is None:
        return False
    expected = mac_v2(secret, timestamp, event_id, key_id, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v2", []))
