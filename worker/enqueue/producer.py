"""The producer side: what other services call to send a PIN and follow it.

The request is validated before anything is written. Then one round trip: one
script (worker/lua/create.lua) checks the idempotency key and the abuse limits,
stores the record (with the PIN) and pushes the task, which carries only the
request id, in the same atomic step (when the broker is the same Redis). With
another broker the task is published after the record, and the record is removed
again if that fails. Either way a caller that sees an exception can retry: nothing
was accepted, or (Redis lost between script and answer) an idempotency key
returns the request that was.

Bulk enqueue (:meth:`Producer.send_pins`) validates every item first, then stores
:data:`worker.records.creation.CREATE_CHUNK` sends per script call, streamed on one
connection (:mod:`worker.enqueue.chunks`). A batch of one chunk is checked and stored in
one step; a bigger one has every chunk's limits counted first, so a refusal still stores
nothing. If Redis fails part way, :class:`worker.enqueue.chunks.PartialEnqueueError`
says which items were stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import redis
from celery import Celery

from worker import constants as c
from worker.config import Settings
from worker.enqueue import chunks
from worker.enqueue.abuse import number_key
from worker.enqueue.request import SendRequest, validate_idempotency_key
from worker.errors import StoreUnavailableError, UnknownRequestError, ValidationError
from worker.guard.decide import GuardSend
from worker.records.creation import CREATE, CREATE_CHUNK, Created, QueuedTask, fresh_ids
from worker.records.store import RecordStore, new_request_id
from worker.states import SETTLED_STATES

if TYPE_CHECKING:
    from worker.enqueue.task_message import SendTaskMessages

CALLBACK_FIELD = "callback_url"  # the record field the settle watch reads


class _Prepared(NamedTuple):
    """One validated send, ready for CREATE."""

    request_id: str
    idempotency_key: str | None
    argv: list[str]  # RecordStore.new_record's
    number: str  # E.164 digits: what the limits count
    client_ref: str
    guard: GuardSend  # what the pumping guard needs of it


@dataclass(frozen=True, slots=True)
class PinSpec:
    """One item for :meth:`Producer.send_pins`."""

    to: str
    pin: str
    client_ref: str | None = None
    params: Mapping[str, str] | None = None
    idempotency_key: str | None = None
    callback_url: str | None = None  # POSTed the record when the send settles (worker.callbacks)
    callback_key: str | None = None  # the API key id on whose behalf: its secret signs the callback
    expect_conversion: bool = False  # the caller reports conversions: the prefix guard judges it


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

    def _prepare(self, spec: PinSpec, expires_in: float | None, now: float, request_id: str,
                 origin: str | None = None) -> _Prepared:
        request = SendRequest.build(
            spec.to, spec.pin, spec.client_ref, spec.params, regions=self.settings.phone_regions,
            number_types=self.settings.number_types,
        )
        argv = self.store.new_record(
            request_id,
            to=request.to,
            pin=request.pin,
            client_ref=request.client_ref,
            params=request.params,
            expires_at=now + (expires_in or self.settings.pin_expiry_s),
            idempotency_key=validate_idempotency_key(spec.idempotency_key),
            now=now,
            country=request.region,
        )
        if spec.callback_url is not None:
            argv += [CALLBACK_FIELD, self.check_callback_url(spec.callback_url, key_id=spec.callback_key),
                     *([c.CALLBACK_KEY_FIELD, spec.callback_key] if spec.callback_key else [])]
        number = number_key(request.to)
        plan = self.guard.plan
        judged = plan.judged(spec.expect_conversion)
        # what the guard's later steps read: the conversion (judged), the price settlement
        argv += plan.record_fields(origin or self.settings.producer_id, request.region, judged, now)
        return _Prepared(request_id, spec.idempotency_key, argv, number, request.client_ref or "",
                         GuardSend(number, request.region, judged))

    def check_callback_url(self, url: str, *, key_id: str | None = None) -> str:
        """``url`` if a secret can sign its callbacks (API key ``key_id``'s own, or the global one)
        and it passes the URL policy (:func:`worker.enqueue.callback_url.checked_url`)."""
        from worker.enqueue.callback_url import checked_url

        return checked_url(self.settings, self.redis, url, key_id)

    def _watch(self, sends: Iterable[_Prepared], now: float) -> None:
        """Put sends with a callback on the settle watch *before* they exist (a crash in between
        leaves an id the sweep drops, never a send whose callback nobody fires)."""
        ids = {send.request_id: now for send in sends if CALLBACK_FIELD in send.argv[4::2]}
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
        callback_key: str | None = None,
        origin: str | None = None,
        expect_conversion: bool = False,
    ) -> str:
        """Validate, record and enqueue one PIN; return its request id.

        With an ``idempotency_key`` already used, nothing new is sent and the
        earlier request's id is returned. With a ``callback_url``, the record is POSTed there once
        the send settles (:mod:`worker.callbacks`), signed for API key id ``callback_key``.
        ``origin`` is whose quotas and send share it uses (the API: the key's id; default
        ``PINRELAY_PRODUCER_ID``); with ``expect_conversion`` the caller promises to report the
        PIN's use (:meth:`report_conversion`), so the pumping guard judges its prefix by it."""
        now = time.time()
        spec = PinSpec(to, pin, client_ref, params, idempotency_key, callback_url, callback_key,
                       expect_conversion)
        send = self._prepare(spec, expires_in, now, new_request_id(), origin)
        task = self._task(send.request_id) if self._direct else None
        try:
            if self.guard.denied(send.number):
                earlier = self.store.existing_for(send.idempotency_key)
                if earlier is not None:
                    return earlier  # an earlier request stands even if its number was denied since
                self.guard.refuse(send.number, "denylist")
            self._watch([send], now)
            # The limits count the validated E.164 form, never the caller's spelling of it.
            group = self.store.create_group(send.request_id, send.idempotency_key, send.argv, task,
                                            number=send.number, client_ref=send.client_ref)
            answer = self.store.create_chunk(self.store.create_call(
                [group], queue=task.queue if task else "", limits=self.guard.limit_args(),
                guard=self.guard.guard_args(origin, [send.guard])))
            self.guard.raise_refused(answer, [send.guard], name_items=False)
            self.guard.log_blocks(answer)
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot store the send request: {exc}") from exc
        stored_id = answer.ids[0]
        if self._direct or stored_id != send.request_id:
            return stored_id  # stored with its task, or an idempotent repeat (no limit spent)
        self.publish(send.request_id, send.idempotency_key)
        return send.request_id

    def send_pins(self, specs: Iterable[PinSpec], expires_in: float | None = None, *,
                  origin: str | None = None) -> list[str]:
        """Bulk enqueue: every item validated first, then records and tasks chunk by chunk.

        A refused item fails the whole batch with a :class:`ValidationError` that names its
        index (``item 3 to: ...``); nothing is stored then. If Redis fails part way, the
        :class:`~worker.enqueue.chunks.PartialEnqueueError` (a StoreUnavailableError) says
        which items were stored.
        """
        now = time.time()
        specs = list(specs)
        sends: list[_Prepared] = []
        for index, (spec, request_id) in enumerate(zip(specs, fresh_ids(len(specs)), strict=True)):
            try:
                sends.append(self._prepare(spec, expires_in, now, request_id, origin))
            except ValidationError as exc:
                raise exc.for_item(index) from None
        if not sends:
            return []
        numbers = [send.number for send in sends]
        try:
            self.guard.screen(numbers)
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot check the sending limits: {exc}") from exc
        one_step = self._direct and len(sends) <= CREATE_CHUNK
        if not one_step:  # count every chunk's limits before any chunk is stored
            keys = [self.store.idempotency_key(send.idempotency_key) for send in sends]
            self.guard.check_many(numbers, keys, countries=[s.guard.country for s in sends],
                                  origin=origin, judged=[s.guard.judged for s in sends])
        self._watch(sends, now)
        if self._direct:
            return self._store_with_tasks(sends, limits=one_step, origin=origin)
        ids = self.store.create_many([(s.request_id, s.idempotency_key, s.argv) for s in sends])
        fresh = [(s.request_id, s.idempotency_key) for s, stored in zip(sends, ids, strict=True)
                 if s.request_id == stored]
        from worker.enqueue import task_message as bulk

        try:
            bulk.publish_one_by_one(self.app, self.settings, [rid for rid, _ in fresh])
        except Exception as exc:
            for rid, idem in fresh:
                self.store.forget(rid, idem)
            raise StoreUnavailableError(f"could not enqueue the sends: {exc}") from exc
        return ids

    def _store_with_tasks(self, sends: Sequence[_Prepared], *, limits: bool,
                          origin: str | None = None) -> list[str]:
        """Records and their task messages, one CREATE call per chunk (with the limits if
        ``limits``: then the batch must be one chunk), streamed on one connection."""
        starts = range(0, len(sends), CREATE_CHUNK)
        ids: list[str] = []

        def call(k: int) -> list[str | int]:
            groups = [self.store.create_group(s.request_id, s.idempotency_key, s.argv,
                                              self._task(s.request_id), number=s.number,
                                              client_ref=s.client_ref)
                      for s in sends[starts[k] : starts[k] + CREATE_CHUNK]]
            chunk = sends[starts[k] : starts[k] + CREATE_CHUNK]
            return self.store.create_call(
                groups, queue=self.settings.queue, limits=self.guard.limit_args() if limits else (),
                guard=self.guard.guard_args(origin, [s.guard for s in chunk]) if limits else ())

        def handle(k: int, reply: Any) -> None:
            answer = Created.of(reply)
            if answer.refused:  # (the list only then: a batch has thousands of chunks' worth)
                self.guard.raise_refused(answer, [s.guard for s in sends], starts[k])
            self.guard.log_blocks(answer)
            ids.extend(answer.ids)

        try:
            chunks.stream(self.redis, CREATE, len(starts), call, handle)
        except chunks.StreamBroken as broken:
            raise broken.partial(ids, starts, [s.request_id for s in sends]) from broken.cause
        except redis.RedisError as exc:  # counting a refusal
            raise StoreUnavailableError(f"cannot check the sending limits: {exc}") from exc
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
        """Enqueue a conversion report for the send's message-id. A conversion (``delivered``) is
        counted for the pumping guard at once, here (and again, harmlessly, by the task): a
        deployment whose callbacks worker is down must not see its honest prefixes as unused."""
        if not self.store.get_raw(request_id):
            raise UnknownRequestError(request_id)
        if delivered:
            from worker.guard.conversions import count_conversion

            with contextlib.suppress(redis.RedisError):  # the task counts it when it runs
                count_conversion(self.redis, self.settings, request_id)
        self.app.send_task(
            c.TASK_REPORT_CONVERSION,
            kwargs={"request_id": request_id, "delivered": delivered, "at": at},
            queue=self.settings.callback_queue_name,
        )

    def close(self) -> None:
        self.redis.close()
