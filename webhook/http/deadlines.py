"""Body deadlines for the async front: one timer for every body being read, not one each.

``asyncio.timeout`` per request costs a timer handle scheduled and cancelled on the loop
(py-spy put about a tenth of a receiver worker's samples there under wrk, half the requests
form POSTs; callgrind, in process: ~10k fewer instructions per request without it). Here
a read registers its task and deadline in a dict; one sweep, every :data:`SWEEP_S` at most
(finer for short timeouts) and only while reads are in progress, cancels the tasks past
theirs, and :meth:`Reading.expired` tells the cancelled read that the cancellation was its
deadline (so it answers 408), not a shutdown. A read ends within one sweep of its deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

SWEEP_S: Final = 0.25  # the longest a read outlives its deadline
SWEEPS_PER_TIMEOUT: Final = 4  # a 0.3 s timeout is swept every 0.075 s


class Deadlines:
    """The deadlines of the body reads in progress on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self._loop = loop
        self.timeout_s = timeout_s
        self._period = min(SWEEP_S, timeout_s / SWEEPS_PER_TIMEOUT)
        self._reads: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._sweeping = False

    def message(self) -> str:
        """The 408's reason."""
        return f"the body did not arrive within {self.timeout_s:g} s"

    def reading(self) -> Reading:
        """``with deadlines.reading() as read:`` around a body read of the current task; after a
        ``CancelledError``, ``read.expired()`` says whether it was the deadline."""
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("a body is read by a task on the deadlines' loop")
        return Reading(self, task)

    def _watch(self, task: asyncio.Task[Any]) -> None:
        self._reads[task] = self._loop.time() + self.timeout_s
        if not self._sweeping:
            self._sweeping = True
            self._loop.call_later(self._period, self._sweep)

    def _done(self, task: asyncio.Task[Any]) -> bool:
        self._reads.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()  # the cancellation was ours: taken back, the read answers 408
            return True
        return False

    def _sweep(self) -> None:
        now = self._loop.time()
        late = [task for task, deadline in self._reads.items() if deadline <= now]
        for task in late:
            del self._reads[task]
            self._expired.add(task)
            task.cancel()
        if self._reads:
            self._loop.call_later(self._period, self._sweep)
        else:
            self._sweeping = False


class Reading:
    """One task's body read under its deadline (see :meth:`Deadlines.reading`)."""

    __slots__ = ("_deadlines", "_task")

    def __init__(self, deadlines: Deadlines, task: asyncio.Task[Any]) -> None:
        self._deadlines = deadlines
        self._task = task

    def __enter__(self) -> Reading:
        self._deadlines._watch(self._task)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._deadlines._done(self._task)

    def expired(self) -> bool:
        """Whether the task was cancelled because its deadline passed."""
        return self._deadlines._done(self._task)
