"""A big batch, chunk by chunk: one script call per chunk, the next one on its way while Redis
runs the one before.

Bulk enqueue used to send every send's script call in one MULTI: 50,000 calls held Redis for
seconds (every worker and receiver waited) and ran into the client's read timeout. Now each
chunk is one call of ``worker/lua/create.lua``, so Redis serves its other clients between
chunks, and :func:`stream` writes call k+1 before it reads the reply to call k, so Python
builds a chunk while Redis stores the one before it.

A call is one atomic script run: its chunk is stored whole or not at all, and running it
again with the same request ids stores nothing twice (create.lua answers the ids already
there). So when the connection fails, the calls still unanswered are sent again once on a new
connection, as redis-py retries a single command; if that fails too, :class:`StreamBroken`
says which calls were answered, which were sent without an answer (they ran entirely or not
at all, perhaps later) and which were never sent, and the producer raises a
:class:`PartialEnqueueError` that says which items were stored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import redis

from worker.errors import StoreUnavailableError
from worker.text import to_text

Handler = Callable[[int, Any], None]  # (call index, its reply)
# what sending the unanswered calls again can cure (the scripts store nothing twice)
_RETRIED = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.NoScriptError)


class StreamBroken(Exception):
    """Redis failed after ``answered`` replies, with calls up to ``sent`` (exclusive) written."""

    def __init__(self, answered: int, sent: int, cause: BaseException) -> None:
        super().__init__(f"{answered} calls answered, {sent} sent: {cause}")
        self.answered = answered
        self.sent = sent
        self.cause = cause

    def partial(self, ids: Sequence[str], starts: range, request_ids: Sequence[str]) -> PartialEnqueueError:
        """What the caller says: ``ids`` answered so far, calls starting at ``starts``, each
        item's ``request_ids`` (an unanswered chunk that ran stored them under these)."""
        stored = dict(enumerate(ids))
        asked = range(len(ids), starts[self.sent] if self.sent < len(starts) else len(request_ids))
        unknown = {i: request_ids[i] for i in asked}
        return PartialEnqueueError(str(self.cause), len(request_ids), stored, unknown)


class PartialEnqueueError(StoreUnavailableError):
    """Redis failed part way through a bulk enqueue; the message says which items were stored.

    ``stored`` maps each stored item's index to its request id (or to the earlier request its
    idempotency key stands for); ``unknown`` maps the items Redis never answered for to the
    request id they have if their chunk ran (each chunk ran whole or not at all: look one up
    with ``get_status``). Every other item was not stored. Sending the items that were not
    stored again is safe; with idempotency keys, so is sending the whole batch again.
    """

    def __init__(self, cause: str, total: int, stored: dict[int, str], unknown: dict[int, str]) -> None:
        self.stored = stored
        self.unknown = unknown
        missing = [i for i in range(total) if i not in stored and i not in unknown]
        parts = [f"{_spans(sorted(stored))} stored" if stored else "none stored"]
        if missing:
            parts.append(f"{_spans(missing)} not stored")
        if unknown:
            parts.append(f"{_spans(sorted(unknown))} unknown (sent, but Redis did not answer)")
        super().__init__(f"could not enqueue all the sends: {cause}; of {total} items: "
                         + ", ".join(parts))


def _spans(indexes: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``items 0-2, 5``."""
    spans: list[str] = []
    start = prev = indexes[0]
    for index in [*indexes[1:], None]:
        if index is not None and index == prev + 1:
            prev = index
            continue
        spans.append(f"{start}" if start == prev else f"{start}-{prev}")
        if index is not None:
            start = prev = index
    return "item " + spans[0] if len(indexes) == 1 else "items " + ", ".join(spans)


def _connection(pool: Any) -> Any:
    try:
        return pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants the command name
        return pool.get_connection("EVALSHA")


def stream(client: redis.Redis, script: str, count: int, call: Callable[[int], Sequence[Any]],
           handle: Handler, *, ahead: int = 1, retries: int = 1) -> None:
    """``EVALSHA <script> 0 *call(k)`` for k in ``range(count)``, in order, on one connection, with
    up to ``ahead`` calls written before the oldest reply is read; ``handle(k, reply)`` gets
    each reply once, in order.

    ``call(k)`` builds its arguments when they are about to be sent (while Redis runs the
    calls before). The script is loaded (SCRIPT LOAD) on the connection first, and called by
    its SHA (EVALSHA: what the Redis ACL users may run). If the connection fails, or a Redis
    that restarted or flushed its scripts in the middle answers NOSCRIPT, the calls not
    answered yet are sent again (built again) on a new connection, up to ``retries`` times:
    only for scripts that store nothing twice. Raises :class:`StreamBroken` when the retries
    are spent; an error raised by ``handle`` propagates (the replies still owed are drained
    first).
    """
    start = 0  # the first call not answered yet
    while True:
        try:
            _stream_once(client, script, range(start, count), call, handle, ahead)
            return
        except StreamBroken as broken:
            sent, start = start + broken.sent, start + broken.answered
            if retries <= 0 or not isinstance(broken.cause, _RETRIED):
                raise StreamBroken(start, sent, broken.cause) from broken.cause
            retries -= 1


def _stream_once(client: redis.Redis, script: str, calls: range, call: Callable[[int], Sequence[Any]],
                 handle: Handler, ahead: int) -> None:
    """One connection's go at ``calls``; StreamBroken counts from ``calls.start``. Only Redis
    errors on the connection break the stream: an error ``handle`` raises (a refusal, or Redis
    failing while it counts one) is its own."""
    pool = client.connection_pool
    conn: Any = None
    owed: deque[int] = deque()
    answered = sent = 0

    def redis_io(what: Callable[[], Any]) -> Any:
        try:
            return what()
        except redis.RedisError as exc:
            if conn is not None:
                conn.disconnect()
            raise StreamBroken(answered, sent, exc) from exc

    try:
        conn = redis_io(lambda: _connection(pool))
        redis_io(lambda: conn.send_command("SCRIPT", "LOAD", script))
        sha = to_text(redis_io(conn.read_response))
        for k in calls:
            args = call(k)
            redis_io(lambda: conn.send_command("EVALSHA", sha, 0, *args))  # noqa: B023 - used at once
            owed.append(k)
            sent += 1
            while len(owed) > ahead:
                reply = redis_io(conn.read_response)
                answered += 1
                handle(owed.popleft(), reply)
        while owed:
            reply = redis_io(conn.read_response)
            answered += 1
            handle(owed.popleft(), reply)
    except StreamBroken:
        raise
    except BaseException:
        if conn is not None:
            _drain(conn, len(owed))
        raise
    finally:
        if conn is not None:
            pool.release(conn)


def _drain(conn: Any, owed: int) -> None:
    """Read ``owed`` replies nobody wants (or drop the connection), so it goes back clean."""
    try:
        for _ in range(owed):
            conn.read_response()
    except (redis.RedisError, OSError):
        conn.disconnect()
