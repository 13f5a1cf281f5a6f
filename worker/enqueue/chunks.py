"""A big batch, chunk by chunk: one script call per chunk, the next one on its way while Redis
runs the one before.

Bulk enqueue used to send every send's script call in one MULTI: 50,000 calls held Redis for
seconds (every worker and receiver waited) and ran into the client's read timeout. Now each
chunk is one call of ``worker/lua/create.lua``, so Redis serves its other clients between
chunks, and :func:`stream` writes call k+1 before it reads the reply to call k, so Python
builds a chunk while Redis stores the one before it.

A call is one atomic script run: its chunk is stored whole or not at all. When Redis fails
part way, :class:`StreamBroken` says which calls were answered, which were sent without an
answer (they ran entirely or not at all) and which were never sent, and the producer turns
that into a :class:`PartialEnqueueError` that says which items were stored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis

from worker.errors import StoreUnavailableError

Handler = Callable[[int, Any], None]  # (call index, its reply)


class StreamBroken(Exception):
    """Redis failed after ``answered`` replies, with calls up to ``sent`` (exclusive) written."""

    def __init__(self, answered: int, sent: int, cause: BaseException) -> None:
        super().__init__(f"{answered} calls answered, {sent} sent: {cause}")
        self.answered = answered
        self.sent = sent
        self.cause = cause


class PartialEnqueueError(StoreUnavailableError):
    """Redis failed part way through a bulk enqueue; the message says which items were stored.

    ``ids[i]`` is item i's request id if it was stored (or the earlier request its idempotency
    key stands for), None if it was not; ``unknown`` lists the items Redis never answered for
    and that could not be looked up afterwards (their chunk was stored whole or not at all).
    Sending the items that were not stored again is safe; with idempotency keys, so is
    sending the whole batch again.
    """

    def __init__(self, cause: str, ids: Sequence[str | None], unknown: Sequence[int] = ()) -> None:
        self.ids = list(ids)
        self.unknown = list(unknown)
        unsure = set(self.unknown)
        stored = [i for i, rid in enumerate(self.ids) if rid is not None]
        missing = [i for i, rid in enumerate(self.ids) if rid is None and i not in unsure]
        parts = [f"{_spans(stored)} stored" if stored else "none stored"]
        if missing:
            parts.append(f"{_spans(missing)} not stored")
        if self.unknown:
            parts.append(f"{_spans(self.unknown)} unknown (Redis did not answer; each chunk is "
                         "stored whole or not at all)")  # fmt: skip
        super().__init__(f"could not enqueue all the sends: {cause}; of {len(self.ids)} items: "
                         + ", ".join(parts))  # fmt: skip


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
        return pool.get_connection("EVAL")


def stream(client: redis.Redis, script: str, calls: Iterable[Sequence[Any]], handle: Handler,
           *, ahead: int = 1) -> int:  # fmt: skip
    """``EVAL script 0 *args`` for each ``args`` of ``calls``, in order, on one connection,
    with up to ``ahead`` calls written before the oldest reply is read; ``handle(k, reply)``
    gets each reply in order. Returns the number of calls.

    EVAL (not EVALSHA): a Redis that restarted or flushed its scripts in the middle cannot
    answer NOSCRIPT for one chunk and run the next. Raises :class:`StreamBroken` on a Redis
    error; an error raised by ``handle`` propagates (the replies still owed are drained).
    """
    pool = client.connection_pool
    conn = _connection(pool)
    owed: deque[int] = deque()
    answered = sent = 0
    try:
        try:
            for args in calls:
                conn.send_command("EVAL", script, 0, *args)
                owed.append(sent)
                sent += 1
                while len(owed) > ahead:
                    handle(owed.popleft(), conn.read_response())
                    answered += 1
            while owed:
                handle(owed.popleft(), conn.read_response())
                answered += 1
        except redis.RedisError as exc:
            conn.disconnect()
            raise StreamBroken(answered, sent, exc) from exc
        except BaseException:
            _drain(conn, len(owed))
            raise
    finally:
        pool.release(conn)
    return sent


def _drain(conn: Any, owed: int) -> None:
    """Read ``owed`` replies nobody wants (or drop the connection), so it goes back clean."""
    try:
        for _ in range(owed):
            conn.read_response()
    except (redis.RedisError, OSError):
        conn.disconnect()
