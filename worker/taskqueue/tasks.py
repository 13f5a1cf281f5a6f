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
"""

from __future__ import annotations

import random
import time
from typing import Any, Final

import redis
from celery import Celery, Task

from worker import constants as c
from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import DeferSend, SendFailedError, ValidationError
from worker.masking import mask_number
from worker.send.conversions import WAIT_FOR_SEND_S, WAIT_FOR_SEND_TRIES, report, send_in_flight
from worker.send.delivery import deliver
from worker.send.routes import check_routes
from worker.states import State
from worker.taskqueue.wiring import services_for

REDIS_RETRY_S: Final = 2.0  # when Redis fails mid-send, the task is rerun after this


def register_tasks(app: Celery, settings: Settings) -> None:
    from celery.signals import task_failure

    check_routes(settings)  # every route in PINRELAY_ROUTES has its settings, or we do not start

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
                           error=f"{type(exception).__name__}: {exception}")  # fmt: skip

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
        **_ignored: Any,
    ) -> str:
        services = services_for(settings)
        if request_id is None:
            request_id = _record_external(services, self.request.id, to, pin, client_ref, params,
                                          expires_in)  # fmt: skip
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
    )
    def report_conversion(
        self: Task, request_id: str, delivered: bool = True, at: float | None = None
    ) -> str:
        services = services_for(settings)
        if self.request.retries < WAIT_FOR_SEND_TRIES and send_in_flight(services.store, request_id):
            raise self.retry(countdown=WAIT_FOR_SEND_S, max_retries=WAIT_FOR_SEND_TRIES,
                             kwargs={"request_id": request_id, "delivered": delivered, "at": at})  # fmt: skip
        return report(services, request_id, delivered=delivered, at=at)

    from worker.verify.tasks import register_verify_tasks

    register_verify_tasks(app, settings)  # pinrelay.verify_expire


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
    services: Any,
    task_id: str,
    to: object,
    pin: object,
    client_ref: object,
    params: object,
    expires_in: int | None,
) -> str:
    """Validate and store a send that came in by plain ``send_task``; its request id.

    An invalid one is recorded as ``error`` with the reason and ends the task in FAILURE.
    """
    settings = services.settings
    store = services.store
    try:
        request = SendRequest.build(to, pin, client_ref, params, regions=settings.phone_regions)
        if not store.get_raw(task_id):  # a redelivered task was counted the first time
            services.guard.check(request.to)
    except ValidationError as exc:
        shown = mask_number(to) if isinstance(to, str) else "?"
        argv = store.new_record(task_id, to=shown, pin="", client_ref=None, params=None,
                                expires_at=time.time())  # fmt: skip
        store.create(task_id, None, argv)
        store.finish(task_id, State.ERROR, fields={"error_text": f"invalid request: {exc}"})
        services.log.warning("send_rejected", request_id=task_id, error=str(exc))
        raise SendFailedError(task_id, State.ERROR.value, f"invalid request: {exc}") from None
    expiry = time.time() + (expires_in or settings.pin_expiry_s)
    argv = store.new_record(task_id, to=request.to, pin=request.pin, client_ref=request.client_ref,
                            params=request.params, expires_at=expiry)  # fmt: skip
    return str(store.create(task_id, None, argv))
