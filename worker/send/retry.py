"""The one retry policy: what is retried, how long to wait, when to stop.

Decided by exception type alone: only :class:`TransientProviderError` is
retried; permanent and unconfirmed outcomes never are. Waits are exponential
with full jitter and a cap, but never shorter than the provider's own hint
(status 1's ``wait [ N ]``, a 429's ``Retry-After``). Attempts stop at
``max_attempts`` or when the next wait would cross the deadline, because a PIN
that arrives minutes late is useless.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from worker.config import Settings
from worker.errors import ProviderError, TransientProviderError

T = TypeVar("T")


class MoveOn(TransientProviderError):
    """Control flow, not a provider answer: the next attempt goes to the next route *now*.

    A route's fault or a transient failure with another route after it (the failover
    table, :mod:`worker.send.failover`) is retried like a transient one, but without the
    backoff wait: the next route has not failed yet.
    """

    def __init__(self, cause: ProviderError, blame: str) -> None:
        super().__init__(str(cause), status=cause.status, http_status=cause.http_status)
        self.cause = cause
        self.blame = blame


class _HonourProviderHint:
    """Exponential full-jitter wait, floored at the provider's retry hint."""

    def __init__(self, settings: Settings) -> None:
        self._jitter = wait_random_exponential(
            multiplier=settings.backoff_initial_s, max=settings.backoff_max_s
        )

    def __call__(self, state: RetryCallState) -> float:
        wait = float(self._jitter(state))
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, MoveOn):
            return 0.0
        if isinstance(exc, TransientProviderError) and exc.retry_after:
            wait = max(wait, exc.retry_after)
        return wait


class _StopAtDeadline(stop_base):
    """Stop when the coming wait would end past the deadline (monotonic clock)."""

    def __init__(self, deadline_monotonic: float) -> None:
        self._deadline = deadline_monotonic

    def __call__(self, state: RetryCallState) -> bool:
        return time.monotonic() + state.upcoming_sleep >= self._deadline


def build_retrying(
    settings: Settings,
    *,
    deadline_monotonic: float | None = None,
    attempts_used: int = 0,
    sleep: Callable[[float], None] = time.sleep,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` for one send.

    ``attempts_used`` and ``deadline_monotonic`` let a redelivered task carry on
    the schedule of the one that died instead of starting it afresh.
    """
    deadline = deadline_monotonic or time.monotonic() + settings.retry_deadline_s
    remaining = max(1, settings.max_attempts - attempts_used)
    return Retrying(
        retry=retry_if_exception_type(TransientProviderError),
        wait=_HonourProviderHint(settings),
        stop=stop_after_attempt(remaining) | _StopAtDeadline(deadline),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
