"""Thin Celery adapters around :mod:`worker.send.delivery` and :mod:`worker.send.conversions`.

``pinrelay.send_pin`` accepts two shapes so that any service can use it:

* ``request_id=...`` — what :func:`worker.send_pin` enqueues: the record (and the
  PIN) is already in Redis, so the PIN never travels in the task message;
* ``to=..., pin=..., client_ref=...`` — a plain ``send_task`` from a service that
  does not import pinrelay: the task validates and records it under its own task
  id first. Such callers should pass ``kwargsrepr`` to keep the PIN out of Flower.

A send that ends ``error`` or ``unconfirmed`` ends its task in FAILURE (after the
record is written) by raising :class:`~worker.errors.SendFailedError`, declared in
``throws``: one log line, no traceback, no ``dead:tasks`` entry, and Flower shows the
reason. Every other outcome is SUCCESS with the record's state as the result; a
deferral is RETRY.

Every argument of the plain shape is checked before anything is counted or stored (an
unknown name, ``expires_in: "60"``, a ``request_id`` mixed with plain arguments): a bad one
ends as a recorded ``error`` with the reason, and spends no abuse limit.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from typing import Any, Final, NoReturn

import redis
from celery import Celery, Task

from worker import constants as c
from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import DeferSend, SendFailedError, ValidationError
from worker.guard.conversions import count_conversion
from worker.masking import mask_number
from worker.send.conversions import WAIT_FOR_SEND_S, WAIT_FOR_SEND_TRIES, report, send_in_flight
from worker.send.delivery import deliver
from worker.send.routes import check_routes
from worker.states import State
from worker.taskqueue.wiring import services_for

REDIS_RETRY_S: Final = 2.0  # when Redis fails mid-send, the task is rerun after this
PLAIN_ARGUMENTS: Final = ("to", "pin", "client_ref", "params", "expires_in")
REQUEST_ID_MAX_CHARS: Final = 128


def _build_services_per_process(settings: Settings) -> None:
    """Each pool process builds its services at start: its spool adopts what a dead one left."""
    from celery.signals import worker_process_init

    def _process_ready(**_: Any) -> None:
        try:
            services_for(settings)
        except Exception as exc:  # the first task builds them again and reports properly
            from worker.logs import get_logger

            get_logger("pinrelay.worker").warning("services_not_ready", error=str(exc))

    worker_process_init.connect(_process_ready, weak=False)


def register_tasks(app: Celery, settings: Settings) -> None:
    from celery.signals import task_failure

    check_routes(settings)  # every route in PINRELAY_ROUTES has its settings, or we do not start
    _build_services_per_process(settings)

    def _dead_task(sender: Any = None, task_id: str | None = None, exception: BaseException | None = None,
                   **_: Any) -> None:
        """An unexpected exception in a task: keep it for an operator (never the arguments).

        A :class:`SendFailedError` is an expected outcome whose record is already written
        (and in ``dead:sends`` when it needs a person): not a dead task.
        """
        if sender is None or getattr(sender, "app", None) is not app or task_id is None:
            return
        if isinstance(exception, SendFailedError):
            return
        from worker.records.deadletters import DeadLetters

        services = services_for(settings)
        DeadLetters(services.redis, settings.key_prefix).add(
            "tasks", task_id, {"task": sender.name, "error": f"{type(exception).__name__}: {exception}"}
        )
        services.log.error("task_failed", task_id=task_id, task=sender.name,
                           error=f"{type(exception).__name__}: {exception}")

    task_failure.connect(_dead_task, weak=False)

    # shared=False: each app (one per test or bench scenario) keeps its own task objects.
    @app.task(
        name=c.TASK_SEND_PIN,
        shared=False,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        max_retries=None,
        throws=(SendFailedError,),
    )
    def send_pin(
        self: Task,
        request_id: str | None = None,
        to: str | None = None,
        pin: str | None = None,
        client_ref: str | None = None,
        params: dict[str, str] | None = None,
        expires_in: int | None = None,
        **extra: Any,
    ) -> str:
        services = services_for(settings)
        plain = {"to": to, "pin": pin, "client_ref": client_ref, "params": params, "expires_in": expires_in}
        if request_id is None:
            request_id = _record_external(services, self.request.id, plain, extra)
            if request_id is None:
                return State.ERROR.value
        else:
            problem = _by_id_problem(request_id, plain)
            if problem:
                _reject(services, self.request.id, to, problem)
                return State.ERROR.value
            if extra:  # a newer producer's argument: the record is what counts
                services.log.warning("send_task_arguments_ignored", request_id=request_id,
                                     names=sorted(extra))
        try:
            state = deliver(request_id, services.deps)
        except DeferSend as defer:
            # Jittered, and well inside the visibility timeout, so deferred sends neither
            # wake together nor get redelivered while they wait.
            countdown = min(defer.countdown_s, settings.visibility_timeout_s / 4)
            countdown += random.uniform(0, countdown / 2)
            services.log.info("send_deferred", request_id=request_id, countdown_s=round(countdown, 3))
            services.store.touch_pending(request_id, time.time() + countdown)
            raise self.retry(countdown=countdown, kwargs={"request_id": request_id}) from None
        except redis.RedisError as exc:
            # The claim protocol makes a rerun safe: `queued` carries on, `sending` is settled.
            services.log.warning("send_store_unavailable", request_id=request_id, error=str(exc))
            raise self.retry(countdown=REDIS_RETRY_S, kwargs={"request_id": request_id}) from None
        if state in _FAILED:
            raise _failed(services, request_id, state)
        return state

    @app.task(
        name=c.TASK_REPORT_CONVERSION,
        shared=False,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        time_limit=c.SIDE_TASK_TIME_LIMIT_S,
    )
    def report_conversion(
        self: Task, request_id: str, delivered: bool = True, at: float | None = None
    ) -> str:
        services = services_for(settings)
        if delivered:  # the pumping guard's evidence first: a provider outage must not lose it
            try:
                count_conversion(services.redis, settings, request_id)
            except redis.RedisError as exc:
                services.log.warning("guard_conversion_not_counted", request_id=request_id,
                                     error=f"{type(exc).__name__}: {exc}")
        if self.request.retries < WAIT_FOR_SEND_TRIES and send_in_flight(services.store, request_id):
            raise self.retry(countdown=WAIT_FOR_SEND_S, max_retries=WAIT_FOR_SEND_TRIES,
                             kwargs={"request_id": request_id, "delivered": delivered, "at": at})
        return report(services, request_id, delivered=delivered, at=at)


_FAILED: Final = frozenset({State.ERROR.value, State.UNCONFIRMED.value})


def _failed(services: Any, request_id: str, state: str) -> SendFailedError:
    """The FAILURE a finished-but-failed send shows in Flower, with the record's one-line reason."""
    try:
        record = services.store.get_raw(request_id) or {}
    except redis.RedisError:
        record = {}
    reason = " ".join(str(record.get("error_text") or "").split())
    status = record.get("provider_status")
    if status and status not in reason:
        reason = f"{reason} (provider status {status})" if reason else f"provider status {status}"
    return SendFailedError(request_id, state, reason[:300])


def _record_external(
    services: Any, task_id: str, plain: Mapping[str, Any], extra: Mapping[str, Any]
) -> str | None:
    """Validate and store a send that came in by plain ``send_task``; None if refused.

    Everything is checked before the abuse guard counts the number: a refused request spends
    no limit, and is recorded as ``error`` under the task id with the reason.
    """
    settings = services.settings
    store = services.store
    to = plain["to"]
    try:
        if extra:
            names = ", ".join(repr(n) for n in sorted(extra))
            raise ValidationError("arguments", f"unknown {names}; pinrelay.send_pin takes "
                                  f"{', '.join(PLAIN_ARGUMENTS)} (or request_id alone)")
        request = SendRequest.build(to, plain["pin"], plain["client_ref"], plain["params"],
                                    regions=settings.phone_regions, number_types=settings.number_types)
        lifetime = _expires_in(plain["expires_in"], settings)
        judged = services.guard.plan.judged(False)
        if not store.get_raw(task_id):  # a redelivered task was counted the first time
            services.guard.check(request.to, country=request.region, judged=judged)
    except ValidationError as exc:
        _reject(services, task_id, to, str(exc))
        return None
    now = time.time()
    argv = store.new_record(task_id, to=request.to, pin=request.pin, client_ref=request.client_ref,
                            params=request.params, expires_at=now + lifetime, country=request.region, now=now)
    argv += services.guard.plan.record_fields(settings.producer_id, request.region, judged, now)
    return str(store.create(task_id, None, argv))


def _expires_in(value: object, settings: Settings) -> float:
    """Seconds the PIN stays sendable: a positive number up to the record TTL (default: the setting)."""
    if value is None:
        return float(settings.pin_expiry_s)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("expires_in", f"must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or not 0 < value <= settings.record_ttl_s:
        raise ValidationError("expires_in", f"must be 0 < seconds <= {settings.record_ttl_s} "
                              "(PINRELAY_RECORD_TTL)")
    return float(value)


def _by_id_problem(request_id: object, plain: Mapping[str, Any]) -> str | None:
    """Why a ``request_id=...`` call is malformed, or None."""
    if not isinstance(request_id, str) or not 0 < len(request_id) <= REQUEST_ID_MAX_CHARS:
        return f"invalid request: request_id must be a string of 1-{REQUEST_ID_MAX_CHARS} characters"
    if not request_id.isascii() or not request_id.isprintable():
        return "invalid request: request_id must be printable ASCII"
    mixed = [name for name in PLAIN_ARGUMENTS if plain[name] is not None]
    if mixed:
        return (f"invalid request: request_id cannot be combined with {', '.join(mixed)} "
                "(positional arguments? pass the plain shape as keyword arguments)")
    return None


def _reject(services: Any, task_id: str, to: object, reason: str) -> NoReturn:
    """Record a refused task as ``error`` under its task id (never over an existing record),
    then end the task in FAILURE with the reason (what Flower shows)."""
    store = services.store
    text = reason if reason.startswith("invalid request") else f"invalid request: {reason}"
    services.log.warning("send_rejected", request_id=task_id, error=text)
    if store.get_raw(task_id):  # the id already stands for a send: leave it alone
        raise SendFailedError(task_id, State.ERROR.value, text)
    shown = mask_number(to) if isinstance(to, str) else "?"
    argv = store.new_record(task_id, to=shown, pin="", client_ref=None, params=None,
                            expires_at=time.time())
    store.create(task_id, None, argv)
    store.finish(task_id, State.ERROR, fields={"error_text": text})
    raise SendFailedError(task_id, State.ERROR.value, text)
