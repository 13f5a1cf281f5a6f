"""Who may call ``POST /v1/messages`` (docs/provider-routes.md §E.2): an application's JWT, or Basic auth.

* ``Authorization: Bearer <JWT>``: RS256, signed with the application's private key and
  verified with its public key (:mod:`.keys`); ``application_id``, ``iat``, ``jti`` and
  ``exp`` must be there (what the SDKs put in), the ``application_id`` must be the
  simulator's, and ``exp``/``iat`` are checked with a little leeway for clock skew.
* ``Authorization: Basic base64(api_key:api_secret)``: the account's key and secret.

Anything else is a 401. The accepted JWT's claims are returned so the request record can
show what the client sent.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, Final

import jwt

from ..config import SimConfig
from ..http.exchange import Inbound
from .keys import ApplicationKeys

REQUIRED_CLAIMS: Final = ("application_id", "iat", "jti", "exp")
LEEWAY_S: Final = 30


@dataclass(frozen=True, slots=True)
class AuthResult:
    """``kind`` is ``jwt``, ``basic`` or ``none``; ``failure`` says why a request is refused."""

    kind: str
    failure: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)


def check_auth(inbound: Inbound, config: SimConfig, keys: ApplicationKeys) -> AuthResult:
    """Whether ``inbound`` carries credentials the simulated account accepts."""
    scheme, _, token = inbound.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return _check_jwt(token.strip(), config, keys)
    basic = inbound.basic_auth()
    if basic is None:
        return AuthResult("none", "no Authorization header (Bearer JWT or Basic)")
    user, password = basic
    key_ok = hmac.compare_digest(user.encode(), config.api_key.encode())
    if key_ok and hmac.compare_digest(password.encode(), config.api_secret.encode()):
        return AuthResult("basic")
    return AuthResult("basic", "wrong api key or secret")


def _check_jwt(token: str, config: SimConfig, keys: ApplicationKeys) -> AuthResult:
    try:
        claims = jwt.decode(
            token,
            keys.public_key(config.vonage_public_key),
            algorithms=["RS256"],
            options={"require": list(REQUIRED_CLAIMS)},
            leeway=LEEWAY_S,
        )
    except jwt.PyJWTError as exc:
        return AuthResult("jwt", f"invalid JWT: {exc}")
    if not hmac.compare_digest(str(claims["application_id"]).encode(), config.vonage_application_id.encode()):
        return AuthResult("jwt", "the JWT's application_id is not this account's application", claims)
    return AuthResult("jwt", None, claims)
