"""Waiting on outcomes, never on the clock: poll with a deadline.

A test that sleeps a fixed time is slow when the machine is idle and flaky when it
is loaded; one that polls is as fast as the outcome and fails with what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

FIRST_DELAY_S = 0.02


def poll(predicate: Callable[[], Any], timeout: float, *, max_delay: float = 0.25) -> Any:
    """Call ``predicate`` until it returns something truthy or ``timeout`` seconds pass; its
    last value either way. The delay starts at 20 ms and grows by half up to ``max_delay``,
    so a quick outcome is seen quickly and a slow one costs few calls."""
    deadline = time.monotonic() + timeout
    delay = min(FIRST_DELAY_S, max_delay)
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(delay)
        delay = min(delay * 1.5, max_delay)


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition", *, max_delay: float = 0.25
) -> Any:
    """Poll ``predicate`` until truthy and return its value; fail the test with ``what`` after
    ``timeout`` seconds."""
    value = poll(predicate, timeout, max_delay=max_delay)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return value
