"""The threads the receiver's WSGI app runs on, fed from the event loop of :mod:`webhook.bridge`.

The app blocks on Redis (its pushes are group-committed across threads, see
:mod:`webhook.queue`), so it cannot run on the loop. ``loop.run_in_executor`` would do, but
costs a wake-up of the loop per call: here the calls that finished while the loop was busy
go back together, one wake-up for all of them, which measured about a fifth more receipts
per second on two cores.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any


class AppThreads:
    """Threads that run the app; finished calls go back to the event loop in batches (one
    wake-up of the loop for all the calls that finished meanwhile, not one each)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threads: int) -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        self._lock = threading.Lock()
        self._wake_pending = False
        self._threads = [threading.Thread(target=self._work, name=f"receiver-{i}", daemon=True)
                         for i in range(threads)]  # fmt: skip
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        self._jobs.put((future, fn, args))
        return future

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as exc:  # handed to the awaiting coroutine
                outcome = (None, exc)
            with self._lock:
                self._done.append((future, *outcome))
                wake, self._wake_pending = not self._wake_pending, True
            if wake:
                self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            done, self._done, self._wake_pending = self._done, [], False
        for future, result, error in done:
            if future.cancelled():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
