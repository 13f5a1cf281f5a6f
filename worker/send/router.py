"""Which route a send's next attempt takes, and what each answer tells that route's breaker.

:class:`Router` holds the configured routes (:mod:`worker.send.routes`) in failover
order and their circuit breakers, which live in Redis so every worker on every host
shares them (``pick_route`` in ``worker/lua/prelude.lua``, which each attempt's claim runs, and
``route_report.lua``):

* **closed**: the route takes sends; a ``degraded`` one (its delivery rate from
  receipts is below ``PINRELAY_ROUTE_MIN_SUCCESS``, :mod:`worker.send.route_health`)
  only the ``PINRELAY_ROUTE_PROBE_SHARE`` while a healthy route remains;
* **open**: after a credentials/quota/account failure at once, or a run of
  :data:`~worker.send.routes.base.TRANSIENT_RUN` transient ones; nothing goes there
  for ``PINRELAY_ROUTE_COOLDOWN`` seconds;
* **half_open**: the cooldown is over; one send (the probe) goes, and its answer closes
  or reopens the breaker.

An answer about one destination never moves the route's breaker: the send moves to a route
that has not refused it (never back), and only "this country is not served here" answers, in
a run of :data:`~worker.send.routes.base.COUNTRY_RUN`, open the breaker of (route, country)
(``route_country.lua``), which the pick asks only while the route has one (``countries``).

When no route is usable the pick says how long to wait, and the send waits in ``queued``
(:class:`~worker.errors.DeferSend`) until a route closes or its PIN expires.
:class:`SingleRoute` is the same interface over one provider and no breaker.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol

import redis

from worker import lua
from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import ProviderError
from worker.records.store import ClaimPick
from worker.send.route_metrics import ROUTE_ATTEMPTS
from worker.send.routes.base import COUNTRY_RUN, KEY_ROUTE, TRANSIENT_RUN, Accepted, Blame, Route
from worker.send.routes.vonage import vonage_blame
from worker.text import to_text

ROUTE_REPORT: Final = lua.script("route_report")
ROUTE_COUNTRY: Final = lua.script("route_country")


class Router:
    """The configured routes in failover order, with their shared breakers."""

    def __init__(self, settings: Settings, client: redis.Redis, routes: Mapping[str, Route],
                 draw: Callable[[], float] = random.random) -> None:
        if not routes:
            raise ValueError("a router needs at least one route")
        self._settings = settings
        self._routes = dict(routes)
        self.names = tuple(routes)
        self._keys = settings.key_prefix + KEY_ROUTE
        self._draw = draw
        self._report = client.register_script(ROUTE_REPORT)
        self._country = client.register_script(ROUTE_COUNTRY)
        self._client = client
        self._flag_denies()

    def _flag_denies(self) -> None:
        """Mark every route whose deny set has numbers (``denies``), so the pick asks it.

        :meth:`deny` sets the mark with the number; this covers sets written before the
        mark existed (an upgraded deployment): an opted-out number must never be sent.
        """
        names = list(self.names)
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.exists(f"{self._keys}{name}:deny")
        found = pipe.execute()
        for name, exists in zip(names, found, strict=True):
            if exists:
                self._client.hset(self._keys + name, "denies", "1")

    def claim_pick(self, mode: str = "first", ref: str = "") -> ClaimPick:
        """What a send's claim needs to pick the route of its next attempt itself (``pick_route``
        in ``claim.lua``: mode ``first``, ``stay`` on ``ref``, or ``after`` it; one round trip)."""
        return ClaimPick(self._keys, mode, ref, self._settings.route_probe_share, self._draw(), self.names)

    def submit(self, name: str, request: SendRequest, client_ref: str | None) -> Accepted:
        """One call on route ``name``, counted by outcome (accepted, or whose fault it was)."""
        route = self._routes[name]
        try:
            accepted = route.submit(request, client_ref)
        except ProviderError as exc:
            ROUTE_ATTEMPTS.labels(route=name, outcome=route.blame(exc).value).inc()
            raise
        ROUTE_ATTEMPTS.labels(route=name, outcome="accepted").inc()
        return accepted

    def blame(self, name: str, exc: ProviderError) -> Blame:
        return self._routes[name].blame(exc)

    def has_next(self, name: str) -> bool:
        """Whether a route follows ``name`` in the configured order."""
        return self.names.index(name) < len(self.names) - 1

    def report(self, name: str, outcome: str, reason: str = "") -> str:
        """Tell ``name``'s breaker: ok | route | transient | release; its state afterwards."""
        if not outcome:
            return ""
        args = [f"{_now():.3f}", outcome, self._settings.route_cooldown_s, TRANSIENT_RUN, reason[:200]]
        return to_text(self._report(keys=[self._keys + name], args=args))

    def report_country(self, name: str, country: str, outcome: str, reason: str = "") -> str:
        """Tell the breaker of (``name``, ``country``): ok | country | release; its state afterwards."""
        if not outcome or not country:
            return ""
        key = self._keys + name
        args = [f"{_now():.3f}", outcome, country, self._settings.route_cooldown_s, COUNTRY_RUN, reason[:200]]
        return to_text(self._country(keys=[key, key + ":cc"], args=args))

    def deny(self, name: str, number: str) -> None:
        """The number opted out on ``name``: no route sends to it again."""
        pipe = self._client.pipeline(transaction=True)
        pipe.sadd(f"{self._keys}{name}:deny", number)
        pipe.hset(self._keys + name, "denies", "1")  # the pick asks the deny set only from now on
        pipe.execute()


class _Submits(Protocol):
    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted: ...


class SingleRoute:
    """One provider as the only route, with no breaker (a :class:`DeliveryDeps` given a provider)."""

    names: tuple[str, ...] = ("sc2fa",)

    def __init__(self, provider: _Submits) -> None:
        self._provider = provider

    def claim_pick(self, mode: str = "first", ref: str = "") -> None:
        return None  # one route, no breaker: the claim takes ``names[0]``

    def submit(self, name: str, request: SendRequest, client_ref: str | None) -> Accepted:
        return self._provider.submit(request, client_ref)

    def blame(self, name: str, exc: ProviderError) -> Blame:
        # No breaker to wait on and nowhere to go: a refusing route ends the send, as before routes.
        blame = vonage_blame(exc)
        return Blame.REQUEST if blame is Blame.ROUTE else blame

    def has_next(self, name: str) -> bool:
        return False

    def report(self, name: str, outcome: str, reason: str = "") -> str:
        return ""

    def report_country(self, name: str, country: str, outcome: str, reason: str = "") -> str:
        return ""

    def deny(self, name: str, number: str) -> None:
        return None


def _now() -> float:
    return time.time()
