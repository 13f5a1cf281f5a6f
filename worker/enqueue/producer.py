"""The producer side: what other services call to send a PIN and follow it.

The request is validated before anything is written. Then two round trips:
one script checks the idempotency key and the abuse limits, one stores the
record (with the PIN) and pushes the task, which carries only the request id,
in the same atomic step (when the broker is the same Redis). With another
broker the task is published after the record, and the record is removed again
if that fails. Either way a caller that sees an exception can retry: nothing
was accepted, or (Redis lost between script and answer) an idempotency key
returns the request that was.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from celery import Celery

from worker import constants as c
from worker.config import Settings
from worker.enqueue.request import SendRequest, validate_idempotency_key
from worker.errors import StoreUnavailableError, UnknownRequestError, ValidationError
from worker.records.store import QueuedTask, RecordStore, new_request_id
from worker.states import SETTLED_STATES
from worker.text import to_text

if TYPE_CHECKING:
    from worker.enqueue.task_message import SendTaskMessages

CALLBACK_FIELD = "callback_url"  # the record field the settle watch reads


@dataclass(frozen=True, slots=True)
class PinSpec:
    """One item for :meth:`Producer.send_pins`."""

    to: str
    pin: str
    client_ref: str | None = None
    params: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    callback_url: str | None = None  # POSTed the record when the send settles (worker.callbacks)


class Producer:
    def __init__(self, settings: Settings, app: Celery, client: redis.Redis | None = None) -> None:
        """``client``, if given, must be a client of ``settings.redis_url`` (records and, with a
        Redis broker, the task queue live there)."""
        from worker.redisconn import redis_client

        self.settings = settings
        self.app = app
        self.redis = client or redis_client(settings.redis_url or "")
        self.store = RecordStore(self.redis, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
        from worker.enqueue.abuse import AbuseGuard

        self.guard = AbuseGuard(settings, self.redis)
        from worker.enqueue import task_message as bulk
        # stores the record (one round trip, never a record without its task).
        self._direct = (
            settings.broker_url in (None, settings.redis_url)
            and bulk.is_redis_broker(settings)
            and app.conf.broker_url == settings.effective_broker_url  # the app's broker, too
        )
        self._messages: SendTaskMessages | None = None  # built on first use

    def _task(self, request_id: str) -> QueuedTask:
        if self._messages is None:
            from worker.enqueue.task_message import SendTaskMessages

            self._messages = SendTaskMessages(self.app, self.settings.queue)
        return QueuedTask(self.settings.queue, self._messages.message(request_id))

    def _prepare(
        self, spec: PinSpec, expires_in: float | None, now: float
    ) -> tuple[str, str | None, list[str], str]:
        """(request id, idempotency key, the record's argv, the normalised number)."""
        request = SendRequest.build(
            spec.to, spec.pin, spec.client_ref, spec.params, regions=self.settings.phone_regions
        )
        request_id = new_request_id()
        argv = self.store.new_record(
            request_id,
            to=request.to,
            pin=request.pin,
            client_ref=request.client_ref,
            params=request.params,
            expires_at=now + (expires_in or self.settings.pin_expiry_s),
            idempotency_key=validate_idempotency_key(spec.idempotency_key),
            now=now,
        )
        if spec.callback_url is not None:
            argv += [CALLBACK_FIELD, self.check_callback_url(spec.callback_url)]
        return request_id, spec.idempotency_key, argv, request.to

    def check_callback_url(self, url: str) -> str:
        """``url`` if callbacks are on and it passes :func:`worker.enqueue.callback_url.check`."""
        from worker.enqueue.callback_url import check

        if self.settings.callback_secret is None:
            raise ValidationError("callback_url", "callbacks are off: PINRELAY_CALLBACK_SECRET is not set")
        return check(url, allow_private=self.settings.callback_allow_private).url

    def _watch(self, prepared: Iterable[tuple[str, str | None, list[str]]], now: float) -> None:
        """Put sends with a callback on the settle watch *before* they exist (a crash in between
        leaves an id the sweep drops, never a send whose callback nobody fires)."""
        ids = {rid: now for rid, _, argv in prepared if CALLBACK_FIELD in argv[4::2]}
        if ids:
            try:
                self.redis.zadd(f"{self.settings.key_prefix}{c.KEY_CALLBACK_WATCH}pin", ids)
            except redis.RedisError as exc:
                raise StoreUnavailableError(f"cannot register the callback: {exc}") from exc

    def send_pin(
        self,
        to: str,
        pin: str,
        client_ref: str | None = None,
        *,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        expires_in: float | None = None,
        callback_url: str | None = None,
    ) -> str:
        """Validate, record and enqueue one PIN; return its request id.

        With an ``idempotency_key`` already used, nothing new is sent and the
        earlier request's id is returned. With a ``callback_url``, the record is
        POSTed there once the send settles (see :mod:`worker.callbacks`).
        """
        now = time.time()
        spec = PinSpec(to, pin, client_ref, params, idempotency_key, callback_url)
        request_id, idem, argv, number = self._prepare(spec, expires_in, now)
        # The limits count the validated E.164 form, never the caller's spelling of it.
        earlier = self.guard.admit(number, self.store.idempotency_key(idem))
        if earlier is not None:
            return earlier  # idempotent repeat: the earlier request stands, no limit is spent
        self._watch([(request_id, idem, argv)], now)
        if self._direct:
            return self.store.create(request_id, idem, argv, self._task(request_id))
        stored_id = self.store.create(request_id, idem, argv)
        if stored_id != request_id:
            return stored_id  # a concurrent repeat won the race
        self.publish(request_id, idempotency_key)
        return request_id

    def send_pins(self, specs: Iterable[PinSpec], expires_in: float | None = None) -> list[str]:
        """Bulk enqueue: every item validated first, then records and tasks in pipelines.

        A refused item fails the whole batch with a :class:`ValidationError` that names its
        index (``item 3 to: ...``); nothing is stored then.
        """
        now = time.time()
        specs = list(specs)
        prepared: list[tuple[str, str | None, list[str]]] = []
        numbers: list[str] = []
        for index, spec in enumerate(specs):
            try:
                request_id, idem, argv, number = self._prepare(spec, expires_in, now)
            except ValidationError as exc:
                raise exc.for_item(index) from None
            prepared.append((request_id, idem, argv))
            numbers.append(number)
        self.guard.check_many(numbers, [self.store.idempotency_key(idem) for _, idem, _ in prepared])
        self._watch(prepared, now)
        from worker.enqueue import task_message as bulk
        if self._direct:
            # Records and task messages in one MULTI: one round trip. If it fails, the records
            # are forgotten; a task left behind finds no record and sends nothing.
            pipe = self.redis.pipeline(transaction=True)
            self.store.create_many(prepared, pipe=pipe, tasks=[self._task(rid) for rid, _, _ in prepared])
            try:
                return [to_text(rid) for _, rid in pipe.execute()]
            except redis.RedisError as exc:
                for rid, idem, _ in prepared:
                    self.store.forget(rid, idem)
                raise StoreUnavailableError(f"could not enqueue the sends: {exc}") from exc
        ids = self.store.create_many(prepared)
        fresh = [(rid, idem) for (rid, idem, _), stored in zip(prepared, ids, strict=True)
                 if rid == stored]  # fmt: skip
        try:
            bulk.publish_one_by_one(self.app, self.settings, [rid for rid, _ in fresh])
        except Exception as exc:
            for rid, idem in fresh:
                self.store.forget(rid, idem)
            raise StoreUnavailableError(f"could not enqueue the sends: {exc}") from exc
        return ids

    def publish(self, request_id: str, idempotency_key: str | None = None) -> None:
        """Publish the send task of a stored request (undoing the record if that fails)."""
        try:
            self.app.send_task(
                c.TASK_SEND_PIN,
                kwargs={"request_id": request_id},
                task_id=request_id,
                queue=self.settings.queue,
            )
        except Exception as exc:
            # Nothing was accepted: undo the record so a retry by the caller starts clean.
            self.store.forget(request_id, idempotency_key)
            raise StoreUnavailableError(f"could not enqueue the send: {exc}") from exc

    def get_status(self, request_id: str) -> dict[str, Any]:
        return self.store.get(request_id)

    def wait(
        self, request_id: str, timeout: float = 30.0, *, until: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Poll the record until it settles (final or ``unconfirmed``) or ``timeout`` passes.

        Returns the last record seen either way; check ``state`` to tell which.
        """
        targets = {str(s) for s in (until or SETTLED_STATES)}
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            record = self.store.get(request_id)
            if record["state"] in targets or time.monotonic() >= deadline:
                return record
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.5)

    def report_conversion(
        self, request_id: str, delivered: bool = True, at: float | None = None
    ) -> None:
        """Enqueue a conversion report for the send's message-id."""
        if not self.store.get_raw(request_id):
            raise UnknownRequestError(request_id)
        self.app.send_task(
            c.TASK_REPORT_CONVERSION,
            kwargs={"request_id": request_id, "delivered": delivered, "at": at},
            queue=self.settings.queue,
        )

    def close(self) -> None:
        self.redis.close()
