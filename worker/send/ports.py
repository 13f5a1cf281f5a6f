"""What the send use case (:mod:`worker.send.delivery`) asks of its collaborators.

Protocols, and the do-nothing defaults a :class:`~worker.send.delivery.DeliveryDeps` starts
with, so that delivery runs with a fake provider and no limiter in tests, and with the
routes, the shared rate bucket and the metrics in the worker.
"""

from __future__ import annotations

from typing import Protocol

from worker.enqueue.request import SendRequest
from worker.errors import ProviderError
from worker.records.store import ClaimPick, ClaimRate
from worker.send.routes.base import Accepted, Blame


class Provider(Protocol):
    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted: ...


class Routing(Protocol):
    """The routes and their breakers (:class:`worker.send.router.Router`); delivery only asks."""

    names: tuple[str, ...]

    def claim_pick(self, mode: str = ..., ref: str = ...) -> ClaimPick | None: ...
    def submit(self, name: str, request: SendRequest, client_ref: str | None) -> Accepted: ...
    def blame(self, name: str, exc: ProviderError) -> Blame: ...
    def has_next(self, name: str) -> bool: ...
    def report(self, name: str, outcome: str, reason: str = ...) -> str: ...
    def report_country(self, name: str, country: str, outcome: str, reason: str = ...) -> str: ...
    def deny(self, name: str, number: str) -> None: ...


class RateLimiter(Protocol):
    def claim_rate(self) -> ClaimRate | None:
        """The shared bucket a claim takes its token from (None: no limit)."""
        ...

    def hold(self, wait_s: float, waited: float) -> float:
        """No token yet: wait (or raise :class:`DeferSend`); return the total waited."""
        ...

    def pause(self, seconds: float) -> None:
        """Tell every worker to hold off (the provider said so)."""
        ...


class NoLimit:
    def claim_rate(self) -> None:
        return None

    def hold(self, wait_s: float, waited: float) -> float:
        return waited

    def pause(self, seconds: float) -> None:
        return None


class Observer(Protocol):
    def attempt(self, outcome: str, code: str, latency_s: float) -> None: ...

    def rate_wait(self, seconds: float) -> None: ...


class NoObserver:
    def attempt(self, outcome: str, code: str, latency_s: float) -> None:
        return None

    def rate_wait(self, seconds: float) -> None:
        return None
