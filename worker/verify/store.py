"""The verification record in Redis: one hash per verification, every change one Lua script.

Key families (all behind ``PINRELAY_KEY_PREFIX``; docs/architecture.md lists them):

* ``verify:<id>``  hash: the verification. Its number, client-ref, limits, state
  (``pending`` -> ``approved`` | ``locked`` | ``expired``), attempts, sends (``send:<n>`` is
  the request id of send n, ``conv:<n>`` marks its conversion as reported), times, and
  while pending the HMAC of the current code (``hash``) and of a resend's code between its
  reservation and its link (``next_hash``, ``next_send``) - never a code. Kept
  ``PINRELAY_RECORD_TTL`` like a send record (at least ``PINRELAY_VERIFY_TTL``).
* ``verify-due``   zset: pending id -> expires_at, what the expiry sweep reads.
* ``verify-conv``  zset: ended id -> when its conversions are due (leased while reported).

Times are Redis's clock (``TIME`` in the scripts), so one clock decides every expiry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from worker import constants as c
from worker import lua
from worker.errors import StoreUnavailableError
from worker.text import to_text

__all__ = ["VerifyStore", "CheckOutcome", "Reservation", "PENDING", "APPROVAL_BUCKETS_S", "send_ids"]

PENDING: Final = "pending"
OWED_LEASE_S: Final = 60  # a reporter that died leaves its verification to another after this

_SCRIPTS: Final = ("start", "reserve", "link", "release", "check", "expire", "owed", "mark", "settle")
# Upper bounds (s) of the start-to-approval histogram the check script keeps in the stats hash.
APPROVAL_BUCKETS_S: Final = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    status: str
    attempts_left: int
    ended: bool  # this check ended the verification (its conversions are owed)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What :meth:`VerifyStore.reserve` answered: ``verdict`` ok, or why no send is possible."""

    verdict: str
    send: int = 0
    to: str = ""
    seconds_left: float = 0.0
    length: int = 0
    client_ref: str | None = None


class VerifyStore:
    """All verification reads and writes."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._run = {name: client.register_script(lua.script(f"verify_{name}")) for name in _SCRIPTS}

    def key(self, verification_id: str) -> str:
        return f"{self.prefix}{c.KEY_VERIFICATION}{verification_id}"

    @property
    def due_key(self) -> str:
        return f"{self.prefix}{c.KEY_VERIFY_DUE}"

    @property
    def owed_key(self) -> str:
        return f"{self.prefix}{c.KEY_VERIFY_CONVERSIONS}"

    @property
    def _stats_key(self) -> str:
        return f"{self.prefix}{c.KEY_STATS}"

    @property
    def _pin_prefix(self) -> str:
        return f"{self.prefix}{c.KEY_PIN}"

    def _call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return self._run[name](keys=list(keys), args=list(args))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(f"cannot reach Redis for the verification: {exc}") from exc

    def start(self, verification_id: str, ttl_s: int, fields: Mapping[str, str]) -> tuple[float, float]:
        """Store a new verification holding send 1's slot and HMAC; ``(created_at, expires_at)``."""
        argv: list[str] = [str(self.ttl_s), str(ttl_s), verification_id]
        for name, value in fields.items():
            argv += [name, value]
        result = self._call("start", [self.key(verification_id), self.due_key], argv)
        if int(result[0]) != 1:
            raise StoreUnavailableError(f"verification id {verification_id} exists already")
        return float(result[1]), float(result[2])

    def read_for_resend(self, verification_id: str) -> tuple[str, int] | None:
        """``(to, code length)`` of a verification, for drawing a resend's code; None if there is none."""
        try:
            to, length = self.client.hmget(self.key(verification_id), ["to", "length"])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(f"cannot reach Redis for the verification: {exc}") from exc
        return None if to is None or length is None else (to_text(to), int(length))

    def reserve(self, verification_id: str, code_hmac: str) -> Reservation:
        """Take the next send slot (a resend) for the code whose HMAC is ``code_hmac``, or say why not."""
        result = [to_text(x) for x in self._call("reserve", [self.key(verification_id)], [code_hmac])]
        if result[0] != "ok":
            return Reservation(result[0])
        return Reservation("ok", int(result[1]), result[2], float(result[3]), int(result[4]),
                           result[5] or None)

    def link(self, verification_id: str, send: int, request_id: str, code_hmac: str = "") -> str:
        """Send ``send`` is in the send path as ``request_id``; with ``code_hmac`` (a resend's) its
        code becomes the current one."""
        keys = [self.key(verification_id), self._stats_key, self.owed_key]
        return to_text(self._call("link", keys, [send, request_id, code_hmac, self._pin_prefix]))

    def release(self, verification_id: str, send: int) -> str:
        """The send path refused send ``send`` before storing it: give the slot back (send 1: drop
        the verification)."""
        keys = [self.key(verification_id), self.due_key]
        return to_text(self._call("release", keys, [send, verification_id]))

    def read_for_check(self, verification_id: str) -> tuple[str | None, str | None, str | None]:
        """``(to, current HMAC, reserved resend's HMAC)`` of a verification; Nones when there is none."""
        try:
            found = self.client.hmget(self.key(verification_id), ["to", "hash", "next_hash"])
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(f"cannot reach Redis for the verification: {exc}") from exc
        to, digest, upcoming = (to_text(x) if x is not None else None for x in found)
        return to, digest, upcoming

    def check(self, verification_id: str, matched_hmac: str) -> CheckOutcome:
        """Count the check atomically: approve (``matched_hmac`` is the stored HMAC the code's
        matched, "" if none), count a wrong code (and lock), or report the end."""
        keys = [self.key(verification_id), self.due_key, self.owed_key, self._stats_key]
        args = [matched_hmac, self._pin_prefix, *APPROVAL_BUCKETS_S]
        result = [to_text(x) for x in self._call("check", keys, args)]
        return CheckOutcome(result[0], int(result[1]), result[2] == "1")

    def expire(self, ids: Sequence[str] = (), limit: int = 200) -> list[str]:
        """End every due verification (``ids`` first); the ids this call ended."""
        keys = [self.due_key, self.owed_key, self._stats_key]
        args = [f"{self.prefix}{c.KEY_VERIFICATION}", self._pin_prefix, limit, *ids]
        return [to_text(x) for x in self._call("expire", keys, args)]

    def owed(self, ids: Sequence[str] = (), limit: int = 100) -> list[str]:
        """Lease the ended verifications whose conversions are due now (``ids`` first)."""
        return [to_text(x) for x in self._call("owed", [self.owed_key], [OWED_LEASE_S, limit, *ids])]

    def mark_reported(self, verification_id: str, send: int) -> bool:
        """Claim the report of send ``send``'s conversion: False if it was claimed before."""
        return int(self._call("mark", [self.key(verification_id)], [send])) == 1

    def unmark_reported(self, verification_id: str, send: int) -> None:
        """Its report could not be enqueued: the next reporter is to make it (best effort)."""
        with contextlib.suppress(redis.RedisError):
            self.client.hdel(self.key(verification_id), f"conv:{send}")

    def settle_owed(self, verification_id: str) -> bool:
        """Off the owed list if every linked send's conversion is enqueued; whether it left."""
        keys = [self.key(verification_id), self.owed_key]
        return int(self._call("settle", keys, [verification_id])) == 1

    def get_raw(self, verification_id: str) -> dict[str, str]:
        try:
            raw = self.client.hgetall(self.key(verification_id))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(f"cannot reach Redis for the verification: {exc}") from exc
        return {to_text(k): to_text(v) for k, v in raw.items()}

    def due_at(self, verification_id: str) -> float | None:
        """When a pending verification expires (its score on the due list), if it is pending."""
        score = self.client.zscore(self.due_key, verification_id)
        return None if score is None else float(score)


def send_ids(raw: Mapping[str, str]) -> list[tuple[int, str]]:
    """``[(n, request id), ...]`` of a raw verification, in send order."""
    found = []
    for name, value in raw.items():
        if name.startswith("send:") and name[5:].isdigit():
            found.append((int(name[5:]), value))
    return sorted(found)
