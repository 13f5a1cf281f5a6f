"""The Messages API's signed status webhooks (docs/provider-routes.md §E.5): an HS256 JWT per push.

Vonage puts a JWT in ``Authorization: Bearer`` on every Messages webhook, signed HS256 with
the account's signature secret (the Dashboard's signature *method* does not apply here).
Its claims: ``iat``, ``jti``, ``iss`` ``"Vonage"``, ``payload_hash`` (hex SHA-256 of the
body), ``api_key`` and ``application_id``; no ``exp``. The SDKs' verifiers
(``vonage_jwt.verify_signature``, ``@vonage/jwt`` ``verifySignature``) check the signature
only; the payload hash is the receiver's to compare, over the exact bytes it got.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Final

import jwt

AUTHORIZATION: Final = "Authorization"
ISSUER: Final = "Vonage"
ALGORITHM: Final = "HS256"


def payload_hash(body: bytes) -> str:
    """The ``payload_hash`` claim: hex SHA-256 of the raw body."""
    return hashlib.sha256(body).hexdigest()


def bearer(body: bytes, secret: str, api_key: str, application_id: str, now: float | None = None) -> str:
    """The JWT for one push of ``body``: fresh ``iat`` and ``jti``, the body's hash."""
    claims = {
        "iat": int(time.time() if now is None else now),
        "jti": str(uuid.uuid4()),
        "iss": ISSUER,
        "payload_hash": payload_hash(body),
        "api_key": api_key,
        "application_id": application_id,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
