"""The send use case: claim -> call the provider -> classify -> record. No Celery here.

The record is claimed (``queued`` -> ``sending``) atomically right before each
provider call and finished right after, so whatever redelivers the task later
finds out what already happened instead of calling the provider again:

* ``queued``  (died while waiting between attempts): the send carries on;
* ``sending`` (died *during* the call): marked ``unconfirmed``, never resent;
* anything else: already decided, logged and dropped.

Once the provider has accepted, the write that records it is retried until the claim
lease runs out (a Redis blip must not turn a known acceptance into ``unconfirmed``); what
is still unwritten then goes to the :class:`Spool`, which records it when Redis is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import redis
from tenacity import RetryCallState

from worker import constants as c
from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import (
    DeferSend,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnconfirmedSendError,
)
from worker.masking import mask_number
from worker.records.store import Claim, RecordStore
from worker.send.provider import Accepted
from worker.send.retry import build_retrying
from worker.states import State

ACCEPT_WRITE_BACKOFF_S: Final = (0.05, 1.0)  # first wait and cap between writes of an acceptance
ACCEPT_WRITE_MAX_TRIES: Final = 200  # a bound even if ``sleep`` does not sleep (tests)


class Provider(Protocol):
    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted: ...


class RateLimiter(Protocol):
    def acquire(self) -> float:
        """Block until a send may go out; return the seconds waited."""
        ...

    def pause(self, seconds: float) -> None:
        """Tell every worker to hold off (the provider said so)."""
        ...


class NoLimit:
    def acquire(self) -> float:
        return 0.0

    def pause(self, seconds: float) -> None:
        return None


class Spool(Protocol):
    """Where an acceptance waits when Redis cannot take it (see :mod:`worker.send.spool`)."""

    def keep(self, request_id: str, message_id: str, fields: Mapping[str, str]) -> None: ...

    def done(self, request_id: str) -> None: ...

    def hand_over(self, request_id: str) -> None: ...


class NoSpool:
    """Keeps nothing: without a spool, an acceptance not written within the lease is lost."""

    def keep(self, request_id: str, message_id: str, fields: Mapping[str, str]) -> None:
        return None

    def done(self, request_id: str) -> None:
        return None

    def hand_over(self, request_id: str) -> None:
        return None


class Observer(Protocol):
    def attempt(self, outcome: str, code: str, latency_s: float) -> None: ...

    def rate_wait(self, seconds: float) -> None: ...


class NoObserver:
    def attempt(self, outcome: str, code: str, latency_s: float) -> None:
        return None

    def rate_wait(self, seconds: float) -> None:
        return None


@dataclass
class DeliveryDeps:
    settings: Settings
    store: RecordStore
    provider: Provider
    log: Any
    limiter: RateLimiter = field(default_factory=NoLimit)
    observer: Observer = field(default_factory=NoObserver)
    spool: Spool = field(default_factory=NoSpool)
    sleep: Callable[[float], None] = time.sleep


class _Settled(Exception):
    """Control flow: the claim found the send already decided (not an error)."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(claim.verdict)
        self.claim = claim


def deliver(request_id: str, deps: DeliveryDeps) -> str:
    """Send one stored request; return the record's state afterwards."""
    log = deps.log.bind(request_id=request_id)
    store, settings = deps.store, deps.settings
    last_call: dict[str, Any] = {}

    lease_s = settings.connect_timeout_s + settings.read_timeout_s + c.CLAIM_LEASE_MARGIN_S

    def one_attempt() -> Accepted:
        waited = deps.limiter.acquire()
        last_call["claimed"] = time.monotonic()
        claim = _usable(store.claim(request_id, lease_s=lease_s), settings, lease_s)
        last_call["attempt"] = claim.attempts
        request = SendRequest(
            to=claim.to, pin=claim.pin, client_ref=claim.client_ref or None,
            params=claim.params or {},
        )  # fmt: skip
        log_ctx = {"to": mask_number(claim.to), "attempt": claim.attempts}
        if waited:
            deps.observer.rate_wait(waited)
            log_ctx["rate_wait_ms"] = round(waited * 1000, 1)
        started = time.perf_counter()
        try:
            accepted = deps.provider.submit(request, claim.sent_ref or None)
        except TransientProviderError as exc:
            latency = time.perf_counter() - started
            if exc.retry_after:
                # Everyone holds off as the provider asked, but never past the retry deadline.
                deps.limiter.pause(min(exc.retry_after, settings.retry_deadline_s))
            store.finish(
                request_id, State.QUEUED,
                fields={"provider_status": exc.code, "error_text": str(exc)},
            )  # fmt: skip
            deps.observer.attempt("transient", exc.code, latency)
            log.info("provider_attempt", **log_ctx, provider_status=exc.code,
                     latency_ms=round(latency * 1000, 1), decision="retry_if_allowed",
                     error=str(exc))  # fmt: skip
            raise
        except ProviderError as exc:
            latency = time.perf_counter() - started
            outcome = "unconfirmed" if isinstance(exc, UnconfirmedSendError) else "permanent"
            deps.observer.attempt(outcome, exc.code, latency)
            log.warning("provider_attempt", **log_ctx, provider_status=exc.code,
                        latency_ms=round(latency * 1000, 1), decision=outcome, error=str(exc))  # fmt: skip
            raise
        deps.observer.attempt("accepted", "0", accepted.latency_s)
        log.info("provider_attempt", **log_ctx, provider_status="0",
                 message_id=accepted.message_id, latency_ms=round(accepted.latency_s * 1000, 1),
                 decision="accepted")  # fmt: skip
        return accepted

    def before_sleep(state: RetryCallState) -> None:
        log.info("retry_scheduled", attempt=last_call.get("attempt"),
                 wait_ms=round(state.upcoming_sleep * 1000, 1))  # fmt: skip

    retrying = build_retrying(settings, sleep=deps.sleep, before_sleep=before_sleep)
    try:
        accepted = retrying(one_attempt)
    except _Settled as settled:
        claim = settled.claim
        level = log.warning if claim.verdict == "unconfirmed" else log.info
        level("send_settled_elsewhere", verdict=claim.verdict, state=claim.state or None)
        return {"unconfirmed": State.UNCONFIRMED.value,
                "expired": State.EXPIRED_BEFORE_SEND.value}.get(claim.verdict, claim.state)  # fmt: skip
    except ProviderError as exc:
        return _record_failure(store, request_id, exc)
    fields = {
        "provider_status": accepted.status,
        "message_id": accepted.message_id,
        "submitted_at": f"{time.time():.3f}",
        "network": accepted.network,
        "price": accepted.price,
        "error_text": "",
    }
    deadline = last_call.get("claimed", time.monotonic()) + lease_s
    return _record_acceptance(deps, request_id, accepted.message_id, fields, deadline, log)


def _record_acceptance(
    deps: DeliveryDeps, request_id: str, message_id: str, fields: Mapping[str, str | None],
    deadline: float, log: Any,
) -> str:  # fmt: skip
    """Write ``submitted``; on a Redis error keep retrying (bounded backoff) until the claim
    lease ends at ``deadline`` (monotonic), then leave the acceptance to the spool."""
    delay, cap = ACCEPT_WRITE_BACKOFF_S
    tries = 0
    while True:
        try:
            state = deps.store.finish(request_id, State.SUBMITTED, message_id=message_id, fields=fields)
        except redis.RedisError as exc:
            tries += 1
            if tries == 1:
                kept = {k: v for k, v in fields.items() if v is not None}
                deps.spool.keep(request_id, message_id, kept)
                log.warning("acceptance_write_failed", message_id=message_id, error=str(exc),
                            retry_for_s=round(max(0.0, deadline - time.monotonic()), 1))  # fmt: skip
            if time.monotonic() + delay >= deadline or tries >= ACCEPT_WRITE_MAX_TRIES:
                deps.spool.hand_over(request_id)
                log.error("acceptance_spooled", message_id=message_id, tries=tries, error=str(exc),
                          note="accepted by the provider; recorded when Redis answers again")  # fmt: skip
                return State.SENDING.value
            deps.sleep(delay)
            delay = min(delay * 2, cap)
            continue
        if tries:
            deps.spool.done(request_id)
            log.warning("acceptance_recorded_late", message_id=message_id, tries=tries, state=state)
        return state


def _usable(claim: Claim, settings: Settings, lease_s: float) -> Claim:
    """The claim if this attempt may call the provider; otherwise raise why not."""
    if claim.verdict == "busy":
        # Another copy of this task is calling the provider right now: look again later.
        raise DeferSend(lease_s)
    if claim.verdict != "ok":
        raise _Settled(claim)
    if claim.attempts > settings.max_attempts:
        raise PermanentProviderError(
            f"gave up: {claim.attempts - 1} attempts used (PINRELAY_MAX_ATTEMPTS)"
        )
    if claim.attempts > 1 and time.time() > claim.first_attempt_at + settings.retry_deadline_s:
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
    return store.finish(request_id, target, fields={"provider_status": exc.code, "error_text": text})
