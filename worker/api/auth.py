"""Who is calling the API: a bearer API key, or an auth-server hook's own identity.

Either way one Redis step (``api_auth.lua``) spends one unit of that caller's rate limit
(``PINRELAY_API_RATE_PER_KEY``), so a hook whose secret leaked is held to the same rate as a
leaked key. A key is looked up (unknown, revoked: 401) and its id becomes ``request.key_id``;
a hook has verified its signature first and names itself (``supabase``, ``signed-hook``),
which no key id (``key_<hex>``) can equal.
"""

from __future__ import annotations

from typing import Final

from webhook.http.core import Request
from worker.api.errors import RateLimited, Unauthorized
from worker.api.keys import ApiKeys, Verdict

BEARER: Final = 'Bearer realm="pinrelay"'
TOKEN_MAX: Final = 256


class KeyAuth:
    """Authenticates bearer keys and admits hook identities against one :class:`ApiKeys`."""

    def __init__(self, keys: ApiKeys, rate_per_key: float) -> None:
        self._keys = keys
        self._rate = rate_per_key

    def bearer_token(self, request: Request) -> str:
        """The presented key (401 with the Bearer challenge when there is none or it is malformed)."""
        header = (request.header("authorization") or "").strip()
        if not header:
            raise Unauthorized("send Authorization: Bearer <key>", headers=(("WWW-Authenticate", BEARER),))
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > TOKEN_MAX or not token.isascii():
            challenge = f'{BEARER}, error="invalid_request"'
            raise Unauthorized("send Authorization: Bearer <key>", headers=(("WWW-Authenticate", challenge),))
        return token

    def bearer(self, request: Request) -> str:
        """Authenticate the request's key and spend one unit of its rate; its id (also set as
        ``request.key_id``). 401 for no, an unknown or a revoked key; 429 over its rate."""
        return self.verdict(request).key_id

    def verdict(self, request: Request) -> Verdict:
        """:meth:`bearer`, answering the whole :class:`Verdict` (``admin``: an admin key)."""
        verdict = self._keys.authenticate(self.bearer_token(request))
        self._within_rate(verdict)
        if verdict.status != "ok":
            message = "this API key was revoked" if verdict.status == "revoked" else "unknown API key"
            raise Unauthorized(message, headers=(("WWW-Authenticate", f'{BEARER}, error="invalid_token"'),))
        request.key_id = verdict.key_id
        return verdict

    def identity(self, request: Request, name: str) -> None:
        """A hook that proved who it is by its signature: spend one unit of ``name``'s rate (429)."""
        self._within_rate(self._keys.admit(name))
        request.key_id = name

    def _within_rate(self, verdict: Verdict) -> None:
        if verdict.status == "limited":
            retry = str(max(1, int(verdict.retry_after_s)))
            raise RateLimited(f"over {self._rate:g} requests/s for this key",
                              headers=(("Retry-After", retry),))
