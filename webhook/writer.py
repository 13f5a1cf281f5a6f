"""Receipts onto the stream: group commit without a thread per request.

Under granian (the RSGI front) the receiver answers many requests on one event loop; each
accepted receipt must be on the stream before its 200. A :class:`StreamWriter` collects the pushes
of all of them: while one script call is out (on the writer's one thread, with the same
blocking redis-py client as everywhere else, so Sentinel, TLS, timeouts and retries are those
of :func:`webhook.queue.connect`), the next pushes wait in a list and go together in the
next call (at most :data:`webhook.queue.MAX_BATCH`). A push costs the loop a future and a
list append; a batch costs one hand-over to the thread and one wake-up of the loop. A batch
that fails fails every push in it (503: the provider retries).

The same thread runs the receiver's other blocking calls (``PING`` for ``/healthz``, reading
the metrics files), so nothing blocking ever runs on the loop.

Under a WSGI server there is no loop: :class:`DirectWriter` makes the same calls in the
server's thread (:meth:`~webhook.queue.ResultQueue.push_entry` group-commits across threads),
and its coroutines complete without waiting, as the WSGI adapter needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from .http.threads import BlockingThreads
from .queue import MAX_BATCH, Entry, ResultQueue

T = TypeVar("T")


class Writer(Protocol):
    """What the receiver pushes, pings and runs through."""

    def push(self, entry: Entry) -> Awaitable[str | None]: ...

    def ping(self) -> Awaitable[bool]: ...

    def run(self, fn: Callable[[], T]) -> Awaitable[T]: ...

    def close(self) -> None: ...


class DirectWriter:
    """The :class:`Writer` of a server without an event loop: every call blocks its caller."""

    def __init__(self, result_queue: ResultQueue) -> None:
        self._queue = result_queue

    async def push(self, entry: Entry) -> str | None:
        return self._queue.push_entry(entry)

    async def ping(self) -> bool:
        return self._queue.ping()

    async def run(self, fn: Callable[[], T]) -> T:
        return fn()

    def close(self) -> None:
        pass


class StreamWriter:
    """``await writer.push(entry)``: the entry id once the receipt is on the stream (None for a
    replay); pushes made while a batch is out go together in the next one. ``written(n)`` is
    called for each batch that went through, before its pushes' waiters wake up."""

    def __init__(self, result_queue: ResultQueue, loop: asyncio.AbstractEventLoop,
                 written: Callable[[int], None] = lambda count: None) -> None:
        self._queue = result_queue
        self._loop = loop
        self._written = written
        self.thread = BlockingThreads(loop, "receipt-writer")
        self._pending: list[tuple[Entry, asyncio.Future[str | None]]] = []
        self._busy = False  # a batch is out, or about to go (scheduled on the loop)

    def push(self, entry: Entry) -> asyncio.Future[str | None]:
        future: asyncio.Future[str | None] = self._loop.create_future()
        self._pending.append((entry, future))
        if not self._busy:
            self._busy = True
            # Not at once: the requests already ready on this turn of the loop join the batch.
            self._loop.call_soon(self._send)
        return future

    def ping(self) -> asyncio.Future[bool]:
        return self.thread.run(self._queue.ping)

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """``fn()`` on the writer's thread (a blocking call the loop must not make)."""
        return self.thread.run(fn)

    def close(self) -> None:
        self.thread.close()

    def _send(self) -> None:
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if not batch:
            self._busy = False
            return
        self.thread.call(self._queue.push_entries, ([entry for entry, _ in batch],),
                         lambda ids, error: self._sent(batch, ids, error))

    def _sent(self, batch: list[tuple[Entry, asyncio.Future[str | None]]], ids: list[str | None] | None,
              error: BaseException | None) -> None:
        if error is None:
            self._written(len(batch))  # before any waiter answers
        for index, (_, future) in enumerate(batch):
            if future.cancelled():
                continue
            if error is not None or ids is None:
                future.set_exception(error or RuntimeError("no entry ids"))
            else:
                future.set_result(ids[index])
        self._send()  # whatever arrived meanwhile (clears _busy when nothing did)
