"""A sliding-window throughput limit, as the provider's per-key submission limit (docs/provider-api.md §7).

Only admitted requests occupy the window; a refused one is told how long to
wait until the oldest admitted request leaves it, which is the ``[ N ]`` (ms)
of the status-1 text.
"""

from __future__ import annotations

import math
import threading
from collections import deque


class SlidingWindow:
    """At most ``limit`` admissions in any ``window_s``; limit <= 0 means unlimited."""

    def __init__(self, limit: float, window_s: float = 1.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self, now: float) -> int | None:
        """None when admitted at ``now`` (monotonic seconds), else the wait in ms (>= 1)."""
        if self.limit <= 0:
            return None
        capacity = max(1, int(self.limit * self.window_s))
        with self._lock:
            horizon = now - self.window_s
            while self._admitted and self._admitted[0] <= horizon:
                self._admitted.popleft()
            if len(self._admitted) < capacity:
                self._admitted.append(now)
                return None
            wait_s = self._admitted[0] + self.window_s - now
        return max(1, math.ceil(wait_s * 1000))
