"""The durable result queue: a Redis Stream the correlator reads with its consumer group.

A receipt is acknowledged to the provider only after :meth:`ResultQueue.push`
returned, so an answered receipt is always on ``{prefix}receipts``. Redis
errors propagate (``redis.RedisError``); the WSGI layer answers 503 and the
provider sends the receipt again later.

Every push runs one Lua script: for a signed receipt it checks its replay keys (the
nonce and the signature), ``XADD``\\s, then records them (``SET ... EX ttl``), all
atomically, so two deliveries of the same nonce racing on two workers queue it exactly
once. The keys are recorded *after* the ``XADD``, so a failed ``XADD`` (out of memory,
say) leaves none behind to swallow the provider's retry.

A receipt the receiver holds for a person instead (a validly signed one that came back after
the signature window, docs/provider-routes.md §G: :meth:`ResultQueue.held`) goes in the same
call to the capped dead-letter log ``{prefix}dead:receipts:log``, with its reason, and is
answered only once it is there; ``pinrelay dead apply`` puts it on the stream later.

The stream is bounded without losing anything: once it holds ``backlog_max`` receipts
nobody has correlated (no correlator running), pushes fail with
:class:`~webhook.errors.ResultQueueFullError` and the receiver answers 503, which the
provider retries.

Group commit: pushes that arrive while another thread of this process is
talking to Redis wait and go together in its next script call (at most
:data:`MAX_BATCH`), each still getting its own entry id. Under load that
turns many round trips into one; with a single request in flight it is one
call, as without batching. A batch that fails fails every push in it. The async
front batches the same way without a thread per request (:mod:`webhook.writer`),
through :meth:`ResultQueue.entry` and :meth:`ResultQueue.push_entries`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker import lua
from worker.config import Settings
from worker.constants import (
    DEFAULT_DEAD_LETTER_CAP,
    DEFAULT_WEBHOOK_BACKLOG_MAX,
    KEY_DEAD_RECEIPTS,
    KEY_NONCES,
    KEY_RECEIPTS_STREAM,
    KEY_STATS,
)
from worker.correlate.bounds import payload
from worker.errors import ConfigError
from worker.redisconn import redis_pool
from worker.text import to_text

from .errors import ResultQueueFullError

SOCKET_TIMEOUT_S: Final = 2.0  # connect and read: a stuck Redis becomes a 503 quickly
HEALTH_CHECK_INTERVAL_S: Final = 10  # PING a pooled connection idle this long before use
RETRIES: Final = 1  # one immediate retry covers a pooled connection Redis has closed
MAX_BATCH: Final = 64  # receipts per script call

# One call per batch: check the nonces, XADD, record the nonces (worker/lua/receipt_push.lua).
PUSH_LUA: Final = lua.script("receipt_push")


# [field, value, ...], the full replay keys of one receipt, and "" (onto the stream) or the reason
# it is held as a dead letter (then the fields are the dead letter's: id, reason, message_id, receipt)
Entry = tuple[list[str], list[str], str]


class _Push:
    """One receipt waiting for a batch; its thread sleeps on ``done``."""

    __slots__ = ("done", "entry", "entry_id", "error", "lead")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.done = threading.Event()
        self.lead = False  # set when this waiter must run the next batch itself
        self.entry_id: str | None = None
        self.error: BaseException | None = None


class ResultQueue:
    """Appends receipts to ``{key_prefix}receipts``; replayed nonces are dropped."""

    def __init__(self, client: redis.Redis, key_prefix: str, nonce_ttl_s: int,
                 backlog_max: int = DEFAULT_WEBHOOK_BACKLOG_MAX,
                 dead_cap: int = DEFAULT_DEAD_LETTER_CAP) -> None:
        if nonce_ttl_s <= 0:
            raise ValueError(f"nonce_ttl_s must be positive, got {nonce_ttl_s!r}")
        self._client = client
        self._backlog_max = str(int(backlog_max))
        self._dead_cap = str(int(dead_cap))
        self.stream = key_prefix + KEY_RECEIPTS_STREAM
        self._dead = key_prefix + KEY_DEAD_RECEIPTS
        self._stats = key_prefix + KEY_STATS
        self._nonce_prefix = key_prefix + KEY_NONCES
        self._nonce_ttl = str(int(nonce_ttl_s))
        self._script = client.register_script(PUSH_LUA)
        self._lock = threading.Lock()
        self._waiting: list[_Push] = []
        self._busy = False  # a thread is running a batch right now

    def entry(self, fields: Mapping[str, str], nonce: str | Sequence[str] | None = None) -> Entry:
        """What :meth:`push_entries` takes for these fields and replay key(s)."""
        flat: list[str] = []
        for item in fields.items():
            flat.extend(item)
        keys = [nonce] if isinstance(nonce, str) else (nonce or ())
        return flat, [self._nonce_prefix + key for key in keys if key], ""

    def held(self, reason: str, message_id: str, fields: Mapping[str, str],
             nonce: str | Sequence[str] | None, at: float) -> Entry:
        """An entry that keeps the receipt ``fields`` as a dead letter ``reason`` (a replay is
        still a replay: its keys are checked and recorded as for the stream)."""
        member = f"{message_id or 'bad'}:{reason}:{at:.6f}"
        receipt = payload(fields)  # bounded as every dead receipt (a genuine one passes unchanged)
        _, keys, _ = self.entry({}, nonce)
        return ["id", member, "reason", reason, "message_id", message_id, "receipt", receipt], keys, reason

    def push(self, fields: Mapping[str, str], nonce: str | Sequence[str] | None = None) -> str | None:
        """``XADD`` the fields; the entry id, or None when ``nonce`` (a replay key, or several:
        any one seen before makes it a replay) was already seen."""
        return self.push_entry(self.entry(fields, nonce))

    def push_entry(self, entry: Entry) -> str | None:
        """:meth:`push` of an :meth:`entry` already made; blocks this thread until its batch ran."""
        me = _Push(entry)
        with self._lock:
            self._waiting.append(me)
            lead = not self._busy
            self._busy = True
        if not lead:
            me.done.wait()
            lead = me.lead
        if lead:
            self._run_batch()
        if me.error is not None:
            raise me.error
        return me.entry_id

    def push_entries(self, entries: Sequence[Entry]) -> list[str | None]:
        """One script call for ``entries`` (at most :data:`MAX_BATCH`): each one's entry id, or
        None for a replay. Raises what Redis raised (:class:`ResultQueueFullError` at the bound)."""
        keys = [self.stream, self._dead, self._stats]
        items: list[list[Any]] = []
        for fields, replay_keys, reason in entries:
            items.append([len(keys) + 1, len(replay_keys), fields, reason])
            keys.extend(replay_keys)
        try:
            ids = self._script(keys=keys, args=[self._nonce_ttl, json.dumps(items), self._backlog_max,
                                                self._dead_cap])
        except redis.ResponseError as exc:
            if str(exc).startswith("BACKLOG"):
                raise ResultQueueFullError(str(exc)) from None
            raise
        return [None if entry_id is None else to_text(entry_id) for entry_id in ids]

    def _run_batch(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        try:
            ids = self.push_entries([push.entry for push in batch])
            for push, entry_id in zip(batch, ids, strict=True):
                push.entry_id = entry_id
        except BaseException as exc:  # every push of the batch shares its fate
            for push in batch:
                push.error = exc
        finally:
            for push in batch:
                push.done.set()
            with self._lock:
                if self._waiting:  # hand over: the oldest waiter runs the next batch
                    self._waiting[0].lead = True
                    self._waiting[0].done.set()
                else:
                    self._busy = False

    def ping(self) -> bool:
        """Whether Redis answers right now (never raises)."""
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False


def result_queue(settings: Settings, client: redis.Redis | None = None) -> ResultQueue:
    """The receiver's queue for ``settings``; without ``client``, on this process's pool."""
    return ResultQueue(
        client if client is not None else connect(settings),
        settings.key_prefix,
        # A timestamp may be up to `window` ahead of our clock, so a nonce must
        # be remembered for two windows to outlive every moment it is accepted.
        nonce_ttl_s=2 * settings.signature_window_s,
        backlog_max=settings.webhook_backlog_max,
        dead_cap=settings.dead_letter_cap,
    )


_pools: dict[tuple[int, str], redis.ConnectionPool] = {}


def connect(settings: Settings) -> redis.Redis:
    """A client on this process's pool for ``settings.redis_url`` (one pool per process)."""
    if settings.redis_url is None:
        raise ConfigError("the receipt receiver needs PINRELAY_REDIS_URL")
    key = (os.getpid(), settings.redis_url)  # a forked worker must not share its parent's sockets
    pool = _pools.get(key)
    if pool is None:
        pool = redis_pool(
            settings.redis_url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=HEALTH_CHECK_INTERVAL_S,
            retry=Retry(NoBackoff(), RETRIES),
        )
        _pools[key] = pool
    return redis.Redis(connection_pool=pool)
