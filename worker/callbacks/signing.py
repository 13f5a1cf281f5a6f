"""``X-Pinrelay-Signature``: what a callback receiver checks to know the POST came from pinrelay.

``t=<unix seconds>,v1=<hex HMAC-SHA256(PINRELAY_CALLBACK_SECRET, "<t>.<body>")>``, the scheme
Stripe's webhooks use: the timestamp is inside the MAC, so a receiver that also refuses old
timestamps refuses a replayed request, and ``v1`` leaves room for a second scheme later.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

HEADER: Final = "X-Pinrelay-Signature"
EVENT_HEADER: Final = "X-Pinrelay-Event-Id"
DEFAULT_TOLERANCE_S: Final = 300


def mac(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={mac(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
