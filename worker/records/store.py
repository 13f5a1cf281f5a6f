"""Send records in Redis: create (:mod:`worker.records.creation`), claim, finish, read.

A record is one Redis hash per request, with a TTL. Times are stored as unix
seconds (compact, and what latency maths wants) and shown as ISO 8601 UTC by
:func:`worker.records.view.to_public`. The PIN lives in its own key, expiring with the request, and is
deleted once sent, so it is never a Celery argument that Flower or a result backend could show.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import redis

from worker import constants as c
from worker import lua
from worker.errors import StoreUnavailableError, UnknownRequestError
from worker.records.creation import CREATE, RecordCreation
from worker.records.view import to_public
from worker.states import State
from worker.text import to_text

# Each read-check-write on a record is one atomic step in Redis (worker/lua/<name>.lua; the
# claim, finish and sweep run after the prelude, which carries the transition table).
CLAIM: Final = lua.script("claim")
FINISH: Final = lua.script("finish")
REPLAY: Final = lua.script("replay")
SWEEP_PENDING: Final = lua.script("sweep_pending")


def new_request_id() -> str:
    """32 hex chars: unique, and short enough to double as the provider client-ref."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class ClaimRate:
    """The shared rate bucket a claim takes its token from (built by :mod:`worker.send.ratelimit`)."""

    bucket_key: str
    rate_per_s: float
    burst: float


@dataclass(frozen=True, slots=True)
class ClaimPick:
    """The routes a claim picks from, and where to start (built by :mod:`worker.send.router`)."""

    route_key_prefix: str
    mode: str  # first | stay | after
    ref: str
    probe_share: float
    draw: float
    routes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Claim:
    """What :meth:`RecordStore.claim` found: ``verdict`` is ok/expired/unconfirmed/done/...,
    or, before anything was written, rate/wait (``wait_s``), denied (``route``) or refused
    (``refused``: every route refused the destination)."""

    verdict: str
    pin: str = ""
    to: str = ""
    client_ref: str = ""
    sent_ref: str = ""
    params: Mapping[str, str] | None = None
    attempts: int = 0
    first_attempt_at: float = 0.0
    state: str = ""
    route_faults: int = 0  # earlier attempts a route refused before sending (not the send's budget)
    route: str = ""  # the route this attempt takes (ok), or the one the number opted out on (denied)
    how: str = ""  # how the route was picked: closed | closed_run | probe | degraded_share | degraded_only
    wait_s: float = 0.0  # rate: until a token is due; wait: until a route may be usable
    country: str = ""  # the number's region (stored at creation; "" for older records)
    country_gate: str = ""  # the (route, country) breaker has a run ("run") or let this probe through
    refused: frozenset[str] = frozenset()  # routes that refused this send's destination (never again)
    expires_at: float | None = None  # ok: when the PIN expires (a route's validity period ends there)


class RecordStore(RecordCreation):
    """All record reads and writes; every multi-step change is one Lua script."""

    def __init__(self, client: redis.Redis, *, prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._create = client.register_script(CREATE)
        self._claim = client.register_script(CLAIM)
        self._finish = client.register_script(FINISH)
        self._replay = client.register_script(REPLAY)
        self._sweep_pending = client.register_script(SWEEP_PENDING)

    def key(self, request_id: str) -> str:
        return f"{self.prefix}{c.KEY_RECORD}{request_id}"

    def pin_key(self, request_id: str) -> str:
        return f"{self.prefix}{c.KEY_PIN}{request_id}"

    @property
    def pending_key(self) -> str:
        return f"{self.prefix}{c.KEY_PENDING}"

    def touch_pending(self, request_id: str, at: float) -> None:
        """The send's task was (re)published to run at ``at``: not lost before then."""
        self.client.zadd(self.pending_key, {request_id: at}, xx=True)

    def lost_tasks(self, older_than: float, limit: int = 500, now: float | None = None) -> list[str]:
        """Queued sends whose task nobody has claimed since ``older_than`` (to republish)."""
        found = self._sweep_pending(keys=[], args=[self.prefix, _now(now), f"{older_than:.3f}", limit])
        return [to_text(rid) for rid in found]

    def existing_for(self, idempotency_key: str | None) -> str | None:
        """The request id an idempotency key already stands for, if any."""
        if not idempotency_key:
            return None
        try:
            found: Any = self.client.get(self.idempotency_key(idempotency_key))
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot read the idempotency key: {exc}") from exc
        return to_text(found) if found is not None else None

    def claim(
        self, request_id: str, now: float | None = None, *, lease_s: float = 60.0, route: str = "",
        rate: ClaimRate | None = None, pick: ClaimPick | None = None,
    ) -> Claim:
        """Atomically move queued -> sending (or report why not: busy/unconfirmed/expired/done).

        ``route`` is the route the attempt takes (recorded as ``route`` and in ``routes_tried``);
        with ``pick`` the script picks it from the breakers instead, and with ``rate`` it first
        takes a token of the shared rate: one round trip per attempt (``worker/lua/claim.lua``).
        """
        keys = [self.key(request_id), self.pin_key(request_id)]
        args: list[Any] = [_now(now), self.prefix, lease_s, route]
        if rate or pick:
            keys.append(rate.bucket_key if rate else "")
            args += [rate.rate_per_s, rate.burst] if rate else [0, 0]
        if pick:
            args += [pick.route_key_prefix, pick.mode, pick.ref, pick.probe_share, pick.draw, *pick.routes]
        result = [to_text(x) for x in self._claim(keys=keys, args=args)]
        verdict = result[0]
        if verdict == "ok":
            params = json.loads(result[5]) if result[5] else None
            return Claim(
                verdict="ok",
                pin=result[1],
                to=result[2],
                client_ref=result[3],
                sent_ref=result[4],
                params=params,
                attempts=int(result[6]),
                first_attempt_at=float(result[7]),
                route_faults=int(result[8] or 0),
                route=result[9] if len(result) > 9 else route,
                how=result[10] if len(result) > 10 else "closed",
                country=result[11] if len(result) > 11 else "",
                country_gate=result[12] if len(result) > 12 else "",
                refused=frozenset(filter(None, result[13].split(","))) if len(result) > 13 else frozenset(),
                expires_at=float(result[14]) if len(result) > 14 and result[14] else None,
            )
        if verdict == "rate":
            return Claim(verdict="rate", wait_s=int(result[1]) / 1000)
        if verdict == "wait":
            return Claim(verdict="wait", wait_s=max(0.05, float(result[1])))
        if verdict == "denied":
            return Claim(verdict="denied", route=result[1])
        if verdict == "refused":
            return Claim(verdict="refused", refused=frozenset(filter(None, result[1].split(","))))
        return Claim(verdict=verdict, state=result[1] if len(result) > 1 else "")

    def finish(
        self,
        request_id: str,
        target: State,
        *,
        message_id: str | None = None,
        fields: Mapping[str, str | None] | None = None,
        now: float | None = None,
    ) -> str:
        """Move to ``target`` if the table allows; store ``fields`` either way.

        With ``message_id`` the message index is written and any receipt that
        arrived before it (parked) is applied in the same step. Returns the
        record's state afterwards.
        """
        argv = [self.prefix, _now(now), target.value, str(self.ttl_s), message_id or ""]
        for name, value in (fields or {}).items():
            if value is not None:
                argv += [name, value]
        result = self._finish(keys=[self.key(request_id), self.pin_key(request_id)], args=argv)
        return to_text(result[0])

    def forget(self, request_id: str, idempotency_key: str | None = None) -> None:
        """Remove a record that was never enqueued (best effort: Redis may be the problem)."""
        keys = [self.key(request_id), self.pin_key(request_id)]
        with contextlib.suppress(redis.RedisError):
            self.client.zrem(self.pending_key, request_id)
            # only if the key stands for this request: an earlier request keeps its key
            idem_key = self.idempotency_key(idempotency_key)
            if idempotency_key and to_text(self.client.get(idem_key) or b"") == request_id:
                keys.append(idem_key)
        with contextlib.suppress(redis.RedisError):
            self.client.delete(*keys)

    def replay_published(self, request_id: str) -> None:
        """The replay's task is out: the old request's PIN is no longer needed."""
        self.client.delete(self.pin_key(request_id))

    def undo_replay(self, request_id: str, new_id: str) -> None:
        """The replay's task could not be published: back to a replayable dead send."""
        with contextlib.suppress(redis.RedisError):
            pipe = self.client.pipeline(transaction=True)
            pipe.hdel(self.key(request_id), "replayed_as")
            pipe.delete(self.key(new_id), self.pin_key(new_id))
            pipe.zrem(self.pending_key, new_id)
            pipe.execute()

    def replay(self, request_id: str, now: float | None = None) -> tuple[str, str]:
        """Copy a dead (error/unconfirmed) request into a new one; ``(verdict, new id or state)``.

        The caller publishes the new id, then calls :meth:`replay_published` (or
        :meth:`undo_replay` if publishing failed). A verification's send is refused
        (``("verification", its verification id)``): a copy would be a send the verification
        never links, and its code is gone anyway.
        """
        key = to_text(self.client.hget(self.key(request_id), "idempotency_key") or b"")
        if key.startswith(c.VERIFY_IDEMPOTENCY_PREFIX):
            return "verification", key[len(c.VERIFY_IDEMPOTENCY_PREFIX):].rpartition(":")[0]
        new_id = new_request_id()
        result = self._replay(
            keys=[self.key(request_id), self.pin_key(request_id), self.key(new_id), self.pin_key(new_id),
                  self.pending_key],
            args=[_now(now), str(self.ttl_s), new_id],
        )
        verdict = to_text(result[0])
        return verdict, to_text(result[1]) if len(result) > 1 else ""

    def get_raw(self, request_id: str) -> dict[str, str]:
        try:
            raw = self.client.hgetall(self.key(request_id))
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot read the record: {exc}") from exc
        return {to_text(k): to_text(v) for k, v in raw.items()}

    def get(self, request_id: str) -> dict[str, Any]:
        raw = self.get_raw(request_id)
        if not raw:
            raise UnknownRequestError(request_id)
        return to_public(raw)

    def get_many(self, request_ids: Iterable[str]) -> list[dict[str, str]]:
        pipe = self.client.pipeline(transaction=False)
        for rid in request_ids:
            pipe.hgetall(self.key(rid))
        return [{to_text(k): to_text(v) for k, v in raw.items()} for raw in pipe.execute()]

    def update_fields(self, request_id: str, fields: Mapping[str, str]) -> None:
        """Plain field writes that change no state (conversion outcome)."""
        self.client.hset(self.key(request_id), mapping=dict(fields))

    def stats(self) -> dict[str, int]:
        raw = self.client.hgetall(f"{self.prefix}{c.KEY_STATS}")
        return {to_text(k): int(v) for k, v in raw.items()}


def _now(now: float | None) -> str:
    return f"{(time.time() if now is None else now):.3f}"
