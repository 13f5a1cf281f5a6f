"""What every provider route is: the :class:`Route` protocol, its outcomes, and whose fault a failure is.

A route turns one send into one HTTP call and the answer into :class:`Accepted` or a
:mod:`worker.errors` provider error, exactly as the short-code client always did; on top
of that it says whose fault a failure is (:class:`Blame`), because that decides failover
(:mod:`worker.send.failover`): the number's fault ends the send, the route's fault moves
the next attempt to the next route. Everything after the call (retries, claims, records,
correlation) stays route-agnostic.

Redis keys of the routes (behind the key prefix), named here once:

* ``route:{name}``        hash: the breaker (state, reason, changed_at, open_until,
  probe_until, run), the delivery health (health, window_n, window_ok) and ``denies``
  (set once its deny set has a number: the pick asks the set only then);
* ``route:{name}:window`` list: the last :data:`WINDOW` final receipts, ``1``/``0``;
* ``route:{name}:deny``   set: numbers that opted out on this route (status 102);
* ``route:{name}:cc``     hash: the route's per-destination-country breakers (``<CC>:run``,
  ``<CC>:open_until``, ``<CC>:probe_until``, ``<CC>:reason``, ...), only for countries whose
  sends met "this country is not served here" answers; the route's hash says ``countries``
  while it has any, so a pick asks it only then.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from worker.enqueue.request import SendRequest
from worker.errors import ProviderError, TransientProviderError, UnconfirmedSendError

KEY_ROUTE: Final = "route:"  # + name: the breaker hash; + ":window" / ":deny"
WINDOW: Final = 200  # receipts the delivery success rate is computed over
MIN_RECEIPTS: Final = 50  # receipts a route needs before it can be judged degraded
TRANSIENT_RUN: Final = 10  # transient failures in a row (cluster-wide, no success between) open a breaker
# "not served in this country" answers in a row (no acceptance for that country between) that
# open a (route, country) breaker; never one number's answer (Blame.DESTINATION opens nothing)
COUNTRY_RUN: Final = 5
THROTTLE_BUDGET: Final = 3  # throttled answers in a row on one route before a send moves on
ROUTE_RECHECK_S: Final = 1.0  # a send whose attempts all met refusing routes looks again after this
# 502/504 come from a gateway in front of the provider, which may have forwarded the request:
# the message may be out, so the answer is `unconfirmed`, never retried.
GATEWAY_STATUSES: Final = (502, 504)

VONAGE_DLR: Final = "vonage-dlr"  # receipts at /delivery-receipt-webhook (docs/provider-api.md §4)
TWILIO_STATUS: Final = "twilio-status"  # callbacks at /twilio-status-webhook (provider-routes.md §B.4)
MESSAGES_STATUS: Final = "messages-status"  # webhooks at /messages-status-webhook (provider-routes.md §E.4)


class Blame(StrEnum):
    """Whose fault a failed call is; :mod:`worker.send.failover` maps each to an action."""

    NUMBER = "number"  # invalid, barred, opted out, landline: no route can help
    DESTINATION = "destination"  # this route cannot reach this number (pair, trial, whitelist): another may
    COUNTRY = "country"  # this route does not serve the number's country (geo permission): another may
    ROUTE = "route"  # credentials, quota, account, sender, set-up: every send fails here
    TRANSIENT = "transient"  # 5xx, 429, internal error, connection refused: not accepted
    THROTTLED = "throttled"  # status 1: the same route, after its wait
    REQUEST = "request"  # anything else the provider refused (an odd parameter): ends the send
    UNCONFIRMED = "unconfirmed"  # the PIN may be out: never resent anywhere


@dataclass(frozen=True, slots=True)
class Accepted:
    """The route took the message; delivery is the receipt's business.

    ``message_ids`` holds every part's id of a multi-part answer (the first is
    ``message_id``), so each part's receipt finds the send.
    """

    message_id: str
    status: str
    network: str | None
    price: str | None
    remaining_balance: str | None
    latency_s: float
    message_ids: tuple[str, ...] = field(default=())

    @property
    def all_ids(self) -> tuple[str, ...]:
        return self.message_ids or (self.message_id,)


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One request a route wants made: a form POST (or, with ``json``, a JSON one), with Basic
    ``auth`` or an ``Authorization`` value (``bearer``: a JWT)."""

    url: str
    form: Mapping[str, str]
    auth: tuple[str, str] | None = None
    json: Mapping[str, Any] | None = None
    bearer: str | None = None


def validity_s(request: SendRequest, low: int, high: int, now: float | None = None) -> int | None:
    """What is left of the PIN's lifetime, whole seconds rounded down (a message must never outlive
    its code), held within the provider's ``low``..``high``; None when the request has no expiry.

    Below ``low`` the provider's minimum is sent: the code may then outlive itself by that much,
    which is still hours less than the provider's default (docs/provider-routes.md §V).
    """
    if request.expires_at is None:
        return None
    left = math.floor(request.expires_at - (time.time() if now is None else now))
    return max(low, min(high, left))


class Route(Protocol):
    """A provider route: sends one PIN, says whose fault a failure is, names its receipts."""

    @property
    def name(self) -> str:
        """As in ``PINRELAY_ROUTES``."""
        ...

    @property
    def receipt_format(self) -> str:
        """Where and how its receipts arrive (:data:`VONAGE_DLR`, :data:`TWILIO_STATUS`)."""
        ...

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        """One provider call; :class:`Accepted` or a provider error (never retried here)."""
        ...

    def blame(self, exc: ProviderError) -> Blame:
        """Whose fault ``exc`` (raised by :meth:`submit`) is."""
        ...


def blame_by_code(
    exc: ProviderError, *, number: frozenset[str], route: frozenset[str], throttled: frozenset[str],
    destination: frozenset[str] = frozenset(), country: frozenset[str] = frozenset(),
) -> Blame:
    """The common shape of every route's table: by exception type first, then by code.

    An answer about one destination (``destination``: this number on this route; ``country``:
    its country on this route) is never the route's: one hostile or unlucky number must not
    stop every other send (issue 23 finding 1)."""
    if isinstance(exc, UnconfirmedSendError):
        return Blame.UNCONFIRMED
    code = exc.status or ""
    if isinstance(exc, TransientProviderError):
        return Blame.THROTTLED if code in throttled else Blame.TRANSIENT
    if code in number:
        return Blame.NUMBER
    if code in destination:
        return Blame.DESTINATION
    if code in country:
        return Blame.COUNTRY
    if code in route or exc.status is None:
        # No provider code at all: HTTP 401/403/404, a redirect, a bad URL: the route's set-up.
        return Blame.ROUTE
    return Blame.REQUEST
