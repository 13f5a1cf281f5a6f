"""The send use case: pick a route -> claim -> call it -> classify -> record. No Celery here.

The record is claimed (``queued`` -> ``sending``) atomically right before each
provider call and finished right after, so whatever redelivers the task later
finds out what already happened instead of calling the provider again:

* ``queued``  (died while waiting between attempts): the send carries on;
* ``sending`` (died *during* the call): marked ``unconfirmed``, never resent;
* anything else: already decided, logged and dropped.

Which route each attempt takes, and what a failure means for the next one, come from
:mod:`worker.send.router` and :mod:`worker.send.failover`; this module is the same for
every route. When no route is usable the send waits in ``queued`` (:class:`DeferSend`).
Once the provider has accepted, :mod:`worker.send.acceptance` records it through a Redis
blip (retried until the claim lease runs out, then spooled).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from tenacity import RetryCallState

from worker import constants as c
from worker.config import Settings
from worker.enqueue.request import SendRequest, region_of
from worker.errors import (
    DeferSend,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnconfirmedSendError,
)
from worker.masking import mask_number
from worker.records.store import Claim, RecordStore
from worker.send.acceptance import NoSpool, Spool, record_acceptance
from worker.send.failover import step_for
from worker.send.ports import NoLimit, NoObserver, Observer, Provider, RateLimiter, Routing
from worker.send.retry import MoveOn, build_retrying
from worker.send.router import SingleRoute
from worker.send.routes.base import ROUTE_RECHECK_S, Accepted, Blame
from worker.states import State


@dataclass
class DeliveryDeps:
    settings: Settings
    store: RecordStore
    log: Any
    provider: Provider | None = None  # the only route, with no breaker, when there is no router
    limiter: RateLimiter = field(default_factory=NoLimit)
    observer: Observer = field(default_factory=NoObserver)
    spool: Spool = field(default_factory=NoSpool)
    sleep: Callable[[float], None] = time.sleep
    router: Routing | None = None  # the routes and their breakers (the worker's)

    def routing(self) -> Routing:
        if self.router is not None:
            return self.router
        if self.provider is None:
            raise ValueError("DeliveryDeps needs a router or a provider")
        return SingleRoute(self.provider)


class _Settled(Exception):
    """Control flow: the claim found the send already decided (not an error)."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(claim.verdict)
        self.claim = claim


def deliver(request_id: str, deps: DeliveryDeps) -> str:
    """Send one stored request; return the record's state afterwards."""
    return _Send(request_id, deps).run()


class _Send:
    """One run of one send's task: its attempts, and where the next one starts."""

    def __init__(self, request_id: str, deps: DeliveryDeps) -> None:
        self.request_id = request_id
        self.deps = deps
        self.log = deps.log.bind(request_id=request_id)
        self.router = deps.routing()
        settings = deps.settings
        self.lease_s = settings.connect_timeout_s + settings.read_timeout_s + c.CLAIM_LEASE_MARGIN_S
        self.attempt_no = 0
        self.claimed_at = time.monotonic()  # of the latest claim: the lease runs from it
        # where the next attempt starts: first (configured order), stay on ref, or after ref
        self.mode, self.ref, self.throttled = "first", "", 0

    def run(self) -> str:
        store, log = self.deps.store, self.log

        def before_sleep(state: RetryCallState) -> None:
            wait_ms = round(state.upcoming_sleep * 1000, 1)
            log.info("retry_scheduled", attempt=self.attempt_no, wait_ms=wait_ms)

        retrying = build_retrying(self.deps.settings, sleep=self.deps.sleep, before_sleep=before_sleep)
        try:
            accepted = retrying(self.attempt)
        except _Settled as settled:
            claim = settled.claim
            level = log.warning if claim.verdict == "unconfirmed" else log.info
            level("send_settled_elsewhere", verdict=claim.verdict, state=claim.state or None)
            return {"unconfirmed": State.UNCONFIRMED.value,
                    "expired": State.EXPIRED_BEFORE_SEND.value}.get(claim.verdict, claim.state)
        except MoveOn as exc:
            if exc.blame == Blame.ROUTE.value:  # this run's attempts all met refusing routes
                raise DeferSend(ROUTE_RECHECK_S) from None
            return _record_failure(store, self.request_id, exc)
        except ProviderError as exc:
            return _record_failure(store, self.request_id, exc)
        ids = accepted.all_ids
        fields = {
            "provider_status": accepted.status,
            "message_id": accepted.message_id,
            "message_ids": ",".join(ids) if len(ids) > 1 else None,
            "submitted_at": f"{time.time():.3f}",
            "network": accepted.network,
            "price": accepted.price,
            "error_text": "",
        }
        deps = self.deps
        return record_acceptance(store, deps.spool, deps.sleep, self.request_id, ",".join(ids), fields,
                                 self.claimed_at + self.lease_s, log)

    def attempt(self) -> Accepted:
        """Take a rate token, pick a route and claim the send (one Redis call), make one
        provider call; raise what tenacity should see."""
        deps, router = self.deps, self.router
        claim, waited = self._claim()
        if claim.verdict == "wait":
            self.log.info("send_waiting_for_route", wait_s=round(claim.wait_s, 3), routes=list(router.names))
            raise DeferSend(claim.wait_s)
        if claim.verdict == "denied":
            raise PermanentProviderError(
                f"the number opted out on route {claim.route}; it is not sent on any route",
                status="denylisted",
            )
        if claim.verdict == "refused":
            raise PermanentProviderError(
                f"every route refused this destination ({', '.join(sorted(claim.refused))})",
                status="unroutable",
            )
        try:
            claim = _usable(claim, deps.settings, self.lease_s)
        except BaseException:
            if claim.how == "probe":
                router.report(claim.route, "release")
            if claim.country_gate == "probe":
                router.report_country(claim.route, self._country(claim), "release")
            raise
        route = claim.route
        pick_how = claim.how
        self.attempt_no = claim.attempts
        request = SendRequest(
            to=claim.to, pin=claim.pin, client_ref=claim.client_ref or None,
            params=claim.params or {}, expires_at=claim.expires_at,
        )
        log_ctx: dict[str, Any] = {"to": mask_number(claim.to), "attempt": claim.attempts, "route": route}
        if pick_how != "closed":
            log_ctx["route_pick"] = pick_how
        if waited:
            deps.observer.rate_wait(waited)
            log_ctx["rate_wait_ms"] = round(waited * 1000, 1)
        started = time.perf_counter()
        try:
            accepted = router.submit(route, request, claim.sent_ref or None)
        except ProviderError as exc:
            self._failed(exc, route, claim, time.perf_counter() - started, log_ctx)
        if pick_how != "closed":  # a closed breaker with no failure counted has nothing to reset
            router.report(route, "ok")
        if claim.country_gate:  # the (route, country) breaker counted refusals, or this was its probe
            router.report_country(route, self._country(claim), "ok")
        deps.observer.attempt("accepted", "0", accepted.latency_s)
        self.log.info("provider_attempt", **log_ctx, provider_status=accepted.status,
                      message_id=accepted.message_id, latency_ms=round(accepted.latency_s * 1000, 1),
                      decision="accepted")
        return accepted

    def _claim(self) -> tuple[Claim, float]:
        """The claim of this attempt, after however long the shared rate made it wait."""
        deps, store = self.deps, self.deps.store
        rate, pick = deps.limiter.claim_rate(), self.router.claim_pick(self.mode, self.ref)
        waited = 0.0
        while True:
            self.claimed_at = time.monotonic()
            claim = store.claim(self.request_id, lease_s=self.lease_s, route=self.router.names[0],
                                rate=rate, pick=pick)
            if claim.verdict != "rate":
                return claim, waited
            waited = deps.limiter.hold(claim.wait_s, waited)

    def _failed(self, exc: ProviderError, route: str, claim: Claim, latency: float,
                log_ctx: dict[str, Any]) -> NoReturn:
        """Apply the failover table (:mod:`worker.send.failover`) to one failed call; always raises."""
        deps, router = self.deps, self.router
        blame = router.blame(route, exc)
        in_a_row = self.throttled + 1 if self.mode == "stay" and self.ref == route else 1
        has_next = router.has_next(route)
        refused = claim.refused
        if blame in (Blame.DESTINATION, Blame.COUNTRY):  # never this route again for this send
            refused = refused | {route}
            has_next = any(name not in refused for name in router.names)
        step = step_for(blame, exc.code, has_next=has_next, throttled_in_a_row=in_a_row)
        reason = str(exc) if exc.code in str(exc) else f"{exc.code}: {exc}"
        router.report(route, step.breaker, reason)
        if blame is Blame.COUNTRY:
            log_ctx["country"] = self._country(claim)
            router.report_country(route, log_ctx["country"], "country", reason)
        elif claim.country_gate == "probe":  # the country's probe got another answer: hand it back
            router.report_country(route, self._country(claim), "release")
        if step.deny:
            router.deny(route, claim.to)
        outcome = "transient" if isinstance(exc, TransientProviderError) else (
            "unconfirmed" if blame is Blame.UNCONFIRMED else "permanent")
        deps.observer.attempt(outcome, exc.code, latency)
        decision = outcome if step.ends else "next_route" if step.at_once else "retry_if_allowed"
        level = self.log.warning if step.ends else self.log.info
        level("provider_attempt", **log_ctx, provider_status=exc.code, blame=blame.value,
              latency_ms=round(latency * 1000, 1), decision=decision, error=str(exc))
        if step.ends:
            raise exc
        if isinstance(exc, TransientProviderError) and exc.retry_after:
            # Everyone holds off as the provider asked, but never past the retry deadline.
            deps.limiter.pause(min(exc.retry_after, deps.settings.retry_deadline_s))
        fields = {"provider_status": exc.code, "error_text": str(exc)}
        if blame in (Blame.ROUTE, Blame.DESTINATION, Blame.COUNTRY):
            # not the send's budget: the route refused before sending
            fields["route_faults"] = str(claim.route_faults + 1)
        if refused != claim.refused:
            fields["routes_refused"] = ",".join(sorted(refused))
        deps.store.finish(self.request_id, State.QUEUED, fields=fields)
        self.mode, self.ref = ("after" if step.move else "stay"), route
        self.throttled = 0 if step.move else in_a_row
        if step.at_once:
            raise MoveOn(exc, blame.value) from None
        raise exc


    @staticmethod
    def _country(claim: Claim) -> str:
        """The number's region: stored with the record, or worked out for one stored before."""
        return claim.country or region_of(claim.to)


def _usable(claim: Claim, settings: Settings, lease_s: float) -> Claim:
    """The claim if this attempt may call the provider; otherwise raise why not."""
    if claim.verdict == "busy":
        # Another copy of this task is calling the provider right now: look again later.
        raise DeferSend(lease_s)
    if claim.verdict != "ok":
        raise _Settled(claim)
    # Calls a route refused before sending (its fault, not the send's) do not spend the budget,
    # and a send that waited for a route waits until its PIN expires, not the retry deadline.
    spent = claim.attempts - claim.route_faults
    if spent > settings.max_attempts:
        raise PermanentProviderError(f"gave up: {spent - 1} attempts used (PINRELAY_MAX_ATTEMPTS)")
    deadline = claim.first_attempt_at + settings.retry_deadline_s
    if spent > 1 and not claim.route_faults and time.time() > deadline:
        raise PermanentProviderError(
            f"gave up: first attempt over {settings.retry_deadline_s:.0f}s ago (PINRELAY_RETRY_DEADLINE)"
        )
    return claim


def _record_failure(store: RecordStore, request_id: str, exc: ProviderError) -> str:
    """Close the record for an attempt that ended without acceptance."""
    if isinstance(exc, UnconfirmedSendError):
        target, text = State.UNCONFIRMED, str(exc)
    elif isinstance(exc, TransientProviderError):
        # Definitely not accepted: the record is back in `queued`; close it as an error.
        target, text = State.ERROR, f"gave up: {exc}"
    else:
        target, text = State.ERROR, str(exc)
    fields: dict[str, str | None] = {"provider_status": exc.code, "error_text": text}
    ids = exc.message_id or ""  # a partial multi-part answer: those parts are out
    if ids:
        fields.update(message_id=ids.split(",")[0], message_ids=ids if "," in ids else None)
    return store.finish(request_id, target, message_id=ids or None, fields=fields)
