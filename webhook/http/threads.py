"""Blocking calls off the event loop: a few threads, each call's outcome handed back on the loop.

What the core runs a blocking handler on (the API's: Redis, the producer), and the receiver's
writer runs its script calls on (:mod:`webhook.writer`). Lighter than ``loop.run_in_executor``
(no ``concurrent.futures.Future``, no lock per call): a call is one ``SimpleQueue.put``, and
its outcome one ``call_soon_threadsafe``. The threads start with the pool and wait on the queue;
a call waits in the queue while every thread is busy, so ``count`` bounds the threads, never
the calls.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[Callable[..., Any], tuple[Any, ...], Callable[[Any, BaseException | None], None]]


class BlockingThreads:
    """``count`` threads for blocking calls on behalf of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, count: int = 1) -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...],
             done: Callable[[Any, BaseException | None], None]) -> None:
        """Run ``fn(*args)`` on a thread, then ``done(result, error)`` on the loop."""
        self._jobs.put((fn, args, done))

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """``fn(*args)`` on a thread, as a future of the loop."""
        future: asyncio.Future[T] = self._loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if future.cancelled():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self.call(fn, args, done)
        return future

    def close(self) -> None:
        """Finish the calls already handed over, then stop the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, done = job
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as exc:  # handed to the loop
                outcome = (None, exc)
            try:
                self._loop.call_soon_threadsafe(done, *outcome)
            except RuntimeError:  # the loop is closed: nobody waits for the outcome any more
                return
