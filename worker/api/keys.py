"""API keys: created once, stored only as a SHA-256, revoked at once everywhere.

A key is ``pk_`` + 32 random bytes (``secrets.token_urlsafe``), printed once by ``pinrelay
keys create`` and never stored: Redis keeps its SHA-256 (a plain hash is enough for a
random 256-bit secret: there is nothing to brute-force, unlike a password) beside a name,
the creation time, the last use and whether it is an admin key. ``apikey:sha256:<hash>``
points at the key's id, and ``api_auth.lua`` reads it and the key's ``revoked_at`` on every
request (no cache), so one round trip both authenticates a request (and says whether the key
is an admin key) and sees a revocation made a moment ago by any process; a revoked key is
told apart from a wrong one in the 401's message.

A key may have a callback secret of its own (``pinrelay keys create NAME --callback-secret``):
the outcome callbacks of the sends and verifications it makes are signed with it instead of
``PINRELAY_CALLBACK_SECRET``, so one service cannot produce a callback another service's
checker accepts (issue 23 finding 6). Unlike the key, it must be kept as it is (an HMAC key),
in the key's hash, which only the worker role reads; it is shown once, by ``create``.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

import redis

from worker import constants as c
from worker import lua
from worker.errors import PinrelayError
from worker.records.view import iso
from worker.text import to_text

_AUTH: Final = lua.script("api_auth")
KEY_PREFIX: Final = "pk_"
NAME_MAX: Final = 100
CALLBACK_SECRET_MIN: Final = 32  # as PINRELAY_CALLBACK_SECRET
CALLBACK_SECRET_MAX: Final = 256


class UnknownKeyError(PinrelayError, KeyError):
    """No API key has that id."""

    def __str__(self) -> str:
        return f"unknown API key id {self.args[0]!r}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :meth:`ApiKeys.authenticate` found: ``status`` ok/unknown/revoked/limited."""

    status: str
    key_id: str = ""
    retry_after_s: float = 0.0
    admin: bool = False  # the key may use the admin routes (``keys create --admin``)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    """Create, list, revoke and check API keys in Redis."""

    def __init__(self, client: redis.Redis, prefix: str, *, rate_per_s: float = 0.0) -> None:
        self._client = client
        self._prefix = prefix
        self._rate = rate_per_s
        self._burst = max(1.0, rate_per_s)  # one second's worth at once
        self._auth = client.register_script(_AUTH)

    def _record(self, key_id: str) -> str:
        return f"{self._prefix}{c.KEY_API_KEY}{key_id}"

    def _index(self, hashed: str) -> str:
        return f"{self._prefix}{c.KEY_API_KEY_HASH}{hashed}"

    def create(self, name: str, callback_secret: str | None = None, *,
               admin: bool = False) -> dict[str, str]:
        """A new key: ``{"id", "key"}``, plus ``"callback_secret"`` when it has one of its own
        (``callback_secret``; ``""`` makes one). The key itself is not kept anywhere. An ``admin``
        key may also use the admin routes (``/v1/guard``); an ordinary one gets 403 there."""
        name = name.strip()
        if not name or len(name) > NAME_MAX or any(ord(ch) < 32 for ch in name):
            raise ValueError(f"a key name is 1-{NAME_MAX} printable characters")
        if callback_secret == "":
            callback_secret = secrets.token_urlsafe(32)
        if callback_secret is not None and not (
                CALLBACK_SECRET_MIN <= len(callback_secret) <= CALLBACK_SECRET_MAX
                and callback_secret.isascii() and callback_secret.isprintable()):
            raise ValueError(f"a callback secret is {CALLBACK_SECRET_MIN}-{CALLBACK_SECRET_MAX} printable "
                             "ASCII characters")
        key_id = "key_" + secrets.token_hex(8)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        fields = {"id": key_id, "name": name, "sha256": digest(key), "created_at": f"{now:.3f}"}
        if callback_secret is not None:
            fields[c.API_KEY_CALLBACK_SECRET_FIELD] = callback_secret
        pipe = self._client.pipeline(transaction=True)
        fields["admin"] = "1" if admin else "0"
        pipe.hset(self._record(key_id), mapping=fields)
        pipe.set(self._index(digest(key)), key_id)
        pipe.zadd(f"{self._prefix}{c.KEY_API_KEYS}", {key_id: now})
        pipe.execute()
        created = {"id": key_id, "key": key}
        if callback_secret is not None:
            created["callback_secret"] = callback_secret
        return created

    def has_callback_secret(self, key_id: str) -> bool:
        """Whether the key signs its callbacks with a secret of its own."""
        return bool(self._client.hexists(self._record(key_id), c.API_KEY_CALLBACK_SECRET_FIELD))

    def list(self) -> list[dict[str, Any]]:
        """Every key, oldest first: id, name and times (never the key, never its hash)."""
        ids: Any = self._client.zrange(f"{self._prefix}{c.KEY_API_KEYS}", 0, -1)
        pipe = self._client.pipeline(transaction=False)
        for key_id in ids:
            pipe.hgetall(self._record(to_text(key_id)))
        out = []
        for raw in pipe.execute():
            data = {to_text(k): to_text(v) for k, v in raw.items()}
            if data:
                out.append({"id": data["id"], "name": data.get("name"), "admin": data.get("admin") == "1",
                            **{f: iso(data.get(f)) for f in ("created_at", "last_used_at", "revoked_at")},
                            "own_callback_secret": c.API_KEY_CALLBACK_SECRET_FIELD in data})
        return out

    def revoke(self, key_id: str) -> dict[str, Any]:
        """Revoke a key (at once, for every API process); its listing afterwards."""
        if not self._client.exists(self._record(key_id)):
            raise UnknownKeyError(key_id)
        self._client.hsetnx(self._record(key_id), "revoked_at", f"{time.time():.3f}")
        return next(k for k in self.list() if k["id"] == key_id)

    def authenticate(self, presented: str) -> Verdict:
        """Check a presented key and count the request against its rate limit (one round trip)."""
        args = [f"{self._prefix}{c.KEY_API_KEY}", f"{self._prefix}{c.KEY_API_RATE}", self._rate, self._burst]
        result = [to_text(x) for x in self._auth(keys=[self._index(digest(presented))], args=args)]
        return _verdict(result)

    def admit(self, identity: str) -> Verdict:
        """Spend one unit of ``identity``'s rate limit, as for a key: an auth-server hook, which
        authenticates by its signature, has an identity of its own (``supabase``) but no key."""
        args = [f"{self._prefix}{c.KEY_API_KEY}", f"{self._prefix}{c.KEY_API_RATE}", self._rate, self._burst,
                identity]
        return _verdict([to_text(x) for x in self._auth(keys=[""], args=args)])


def _verdict(result: list[str]) -> Verdict:
    """``api_auth.lua``'s answer as a :class:`Verdict`."""
    if result[0] == "limited":
        return Verdict("limited", result[1], math.ceil(int(result[2]) / 1000))
    return Verdict(result[0], result[1] if len(result) > 1 else "", admin=result[2:3] == ["1"])
