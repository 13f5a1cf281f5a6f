"""Storing new sends: CREATE's arguments, chunk by chunk, and its answer.

One CREATE call (``worker/lua/create.lua``) checks idempotency keys and the abuse limits,
stores each record with its PIN under its own expiring key and pushes each send's task
message, for up to :data:`CREATE_CHUNK` sends, in one atomic step. :class:`RecordCreation`
builds those arguments and runs the call; :class:`worker.records.store.RecordStore` is one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from worker import constants as c
from worker import lua
from worker.errors import StoreUnavailableError
from worker.states import State
from worker.text import to_text

CREATE: Final = lua.script("create")
CREATE_STORE, CREATE_CHECK = "store", "check"  # CREATE's modes (worker/lua/create.lua)
CREATE_CHUNK = 200  # sends per CREATE call: Redis serves other clients between calls
_QUEUED: Final = State.QUEUED.value


def fresh_ids(count: int) -> list[str]:
    """``count`` new request ids, each what :func:`worker.records.store.new_request_id` gives
    (uuid4 hex), from one ``os.urandom`` read: a bulk enqueue spent ~2 us per id in :func:`uuid.uuid4`."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # the RFC 4122 variant
    text = raw.hex()
    return [text[i : i + 32] for i in range(0, 32 * count, 32)]


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """A send task's message as the broker's Redis list holds it (see :mod:`worker.enqueue.task_message`)."""

    queue: str
    message: str


@dataclass(frozen=True, slots=True)
class Created:
    """CREATE's answer for one chunk: an id per send, or the limit that refused send ``index``."""

    ids: list[str]
    refused: str = ""  # "number_day", "number_10min", "prefix_minute" or a guard rule; "" when none did
    index: int = -1
    retry_ms: float = -1  # a guard refusal's wait, when the script knows it (-1: it does not)
    blocks: tuple[tuple[str, str, int, int], ...] = ()  # (kind, prefix, judged, converted) made

    @classmethod
    def of(cls, reply: Any) -> Created:
        verdict = to_text(reply[0])
        if verdict == "ok":
            rest = list(reply[1:])
            blocks: tuple[tuple[str, str, int, int], ...] = ()
            if rest and isinstance(rest[-1], list):
                blocks = tuple((to_text(e[0]), to_text(e[1]), int(e[2]), int(e[3])) for e in rest.pop())
            return cls([to_text(rid) for rid in rest], blocks=blocks)
        return cls([], verdict, int(reply[1]), float(reply[2]) if len(reply) > 2 else -1)



class RecordCreation:
    """CREATE for the store: needs ``client``, ``prefix``, ``ttl_s`` and the registered ``_create``."""

    client: redis.Redis
    prefix: str
    ttl_s: int
    _create: Any

    def new_record(
        self,
        request_id: str,
        *,
        to: str,
        pin: str,
        client_ref: str | None,
        params: Mapping[str, str] | None,
        expires_at: float,
        idempotency_key: str | None = None,
        now: float | None = None,
        country: str = "",
    ) -> list[str]:
        """One record as ``[TTL, id, PIN, PIN TTL (ms), field, value, ...]`` (what :meth:`create`,
        :meth:`create_many` and :meth:`create_group` take). ``country``: the number's region,
        which the claim's route pick checks (route, country) breakers by."""
        created = time.time() if now is None else now
        stamp = f"{created:.3f}"
        argv = [str(self.ttl_s), request_id, pin, str(max(0, int((expires_at - created) * 1000))),
                "id", request_id, "to", to, "state", _QUEUED, "attempts", "0", "created_at", stamp,
                "updated_at", stamp, "expires_at", f"{expires_at:.3f}",
                # the provider's client-ref: the caller's, else our id (for receipt fallback)
                "sent_ref", client_ref or request_id]
        if client_ref:
            argv += ["client_ref", client_ref]
        if params:
            argv += ["params", json.dumps(dict(params), separators=(",", ":"))]
        if idempotency_key:
            argv += ["idempotency_key", idempotency_key]
        if country:
            argv += ["country", country]
        return argv

    def idempotency_key(self, key: str | None) -> str:
        return f"{self.prefix}{c.KEY_IDEMPOTENCY}{key}" if key else ""

    def create_group(
        self, request_id: str, idempotency_key: str | None, argv: list[str],
        task: QueuedTask | None = None, *, number: str = "", client_ref: str | None = None,
    ) -> list[str]:
        """One send's part of CREATE's ARGV ('store' mode) from :meth:`new_record`'s ``argv``
        (whose TTL is the store's). ``number`` is what the limits count ("" without limits);
        ``client_ref`` None means "read it from ``argv``"."""
        fields = argv[4:]
        if client_ref is None:
            client_ref = next((fields[i + 1] for i in range(0, len(fields) - 1, 2)
                               if fields[i] == "client_ref"), "")
        return [request_id, self.idempotency_key(idempotency_key), number, argv[2], argv[3],
                task.message if task else "", client_ref, str(len(fields)), *fields]

    def create_call(
        self, groups: Iterable[Sequence[str]], *, queue: str = "", limits: Sequence[str | int] = (),
        guard: Sequence[str | int] = (), mode: str = CREATE_STORE,
    ) -> list[str | int]:
        """CREATE's ARGV for one chunk: ``groups`` from :meth:`create_group` ('store') or
        ``(idempotency key, number)`` pairs ('check'), with the limits' arguments (none: off) and
        the pumping guard's (worker/guard/decide.py; none: not guarded, as when a check counted
        them already). The guard runs only with the limits."""
        args: list[str | int] = [self.prefix, str(self.ttl_s), mode, queue, len(limits), *limits,
                                 *(guard if limits and guard else [0])]
        for group in groups:
            args += group
        return args

    def create_chunk(self, args: Sequence[str | int]) -> Created:
        """Run CREATE with ``args`` (:meth:`create_call`); a Redis error is the caller's to word."""
        return Created.of(self._create(keys=[], args=args))

    def create(
        self, request_id: str, idempotency_key: str | None, argv: list[str],
        task: QueuedTask | None = None,
    ) -> str:
        """Store a new record (and push ``task``); with a known idempotency key return the
        earlier id instead, pushing nothing."""
        group = self.create_group(request_id, idempotency_key, argv, task)
        try:
            reply = self._create(keys=[], args=self.create_call([group], queue=task.queue if task else ""))
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot store the send request: {exc}") from exc
        return Created.of(reply).ids[0]

    def create_many(
        self, items: Sequence[tuple[str, str | None, list[str]]], pipe: Any = None,
        tasks: Sequence[QueuedTask] | None = None,
    ) -> list[str]:
        """:meth:`create` for many, one CREATE call per :data:`CREATE_CHUNK` items, all in one
        round trip; with ``pipe`` the calls are only queued on it (and ``[]`` returned)."""
        pipeline = pipe or self.client.pipeline(transaction=False)
        for start in range(0, len(items), CREATE_CHUNK):
            chunk = range(start, min(len(items), start + CREATE_CHUNK))
            groups = [self.create_group(*items[i], tasks[i] if tasks else None) for i in chunk]
            queue = tasks[start].queue if tasks else ""
            self._create(keys=[], args=self.create_call(groups, queue=queue), client=pipeline)
        if pipe is not None:
            return []
        try:
            return [rid for reply in pipeline.execute() for rid in Created.of(reply).ids]
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot store the send requests: {exc}") from exc
