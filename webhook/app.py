"""The receipt receiver: an app on the HTTP core (:mod:`webhook.http`), and what it answers.

=========================================  ==========================================
request                                    answer
=========================================  ==========================================
GET|POST /delivery-receipt-webhook         200 ``{"status":"ok"}`` once on the stream;
                                           200 ``{"status":"duplicate"}`` for a replayed
                                           signed nonce (or signature); 200
                                           ``{"status":"late"}`` signed right but older than
                                           the window: a dead letter (intake.py); 400 malformed or
                                           cut off; 401 signature; 408 body too slow;
                                           413 body too large; 415 content type;
                                           503 Redis unreachable or the stream full
POST /twilio-status-webhook                200 once on the stream (``duplicate`` for a repeat);
                                           403 bad ``X-Twilio-Signature`` (twilio/status.py)
POST /messages-status-webhook              200 once on the stream (``duplicate`` for a repeat);
                                           401 bad or missing Bearer JWT (messages/status.py)
GET /healthz                               200 ``{"status":"ok","redis":true|false}``
GET /readyz                                200 ``{"service":"pinrelay-webhook","status":"ok",
                                           "redis":true}``; 503 (``"status":"unavailable"``)
                                           when Redis is down
GET /metrics                               Prometheus exposition text; 404 when
                                           ``PINRELAY_WEBHOOK_METRICS`` is ``off`` or a
                                           port (:mod:`webhook.serve` serves it there)
other method on those paths                405 with ``Allow``
any other path                             404
anything unexpected                        500 ``{"error":"internal error"}``
=========================================  ==========================================

This layer only moves bytes: the core reads the body (bounded, under its deadline), the
receiver hands it to :mod:`webhook.intake` (parse, validate, signature), pushes through its
writer (:mod:`webhook.writer`) and answers. Every handler is a coroutine on the loop: under
granian (:mod:`webhook.rsgi`) receipts are group-committed by one writer thread per worker;
under a WSGI server (:mod:`webhook.wsgi`, :func:`create_app`) each push blocks the server's
thread instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from wsgiref.types import WSGIApplication

import redis

from worker.config import Settings
from worker.logs import get_logger

from .answers import (
    DUPLICATE,
    HEALTH_PATH,
    INTERNAL_ERROR,
    LATE,
    METRICS_PATH,
    NOT_FOUND,
    OK,
    QUEUE_UNAVAILABLE,
    READY_PATH,
    RECEIPT_PATH,
    SERVICE_NAME,
    StatusCounters,
    error,
    health,
    not_allowed,
    ready,
)
from .http.answers import Answer
from .http.core import HttpCore, Request
from .http.errors import HttpError
from .http.metrics import metrics_answer
from .http.routing import Endpoint, Router
from .http.wsgi import WSGIAdapter
from .intake import ReceiptIntake
from .messages.status import MESSAGES_STATUS_PATH, MessagesStatus
from .queue import ResultQueue, result_queue
from .twilio.status import TWILIO_STATUS_PATH, TwilioStatus
from .writer import DirectWriter, StreamWriter, Writer

# The paths and the service name were always importable from here.
__all__ = ["HEALTH_PATH", "METRICS_PATH", "READY_PATH", "RECEIPT_PATH", "SERVICE_NAME", "Receiver",
           "create_app", "receiver_core"]

TWILIO_SIGNATURE_HEADER = "x-twilio-signature"
TWILIO_SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"


class Receiver:
    """The receiver as an :class:`~webhook.http.core.HttpApp`; serve it with :func:`receiver_core`."""

    def __init__(self, settings: Settings, queue: ResultQueue,
                 clock: Callable[[], float] = time.time) -> None:
        self._queue = queue
        self.body_limit = settings.webhook_body_limit_bytes
        self._intake = ReceiptIntake(settings, queue, clock)
        self._twilio = TwilioStatus(settings, queue, clock)
        self._messages = MessagesStatus(settings, queue, clock)
        self._counters = StatusCounters()
        self._log = get_logger("webhook.receiver")
        self._writer: Writer = DirectWriter(queue)
        self._batched = False  # the writer counts the 200s, once per batch
        receipt = Endpoint(self._receipt)
        table = [
            (RECEIPT_PATH, {"GET": receipt, "POST": receipt}),
            (TWILIO_STATUS_PATH, {"POST": Endpoint(self._twilio_callback)}),
            (MESSAGES_STATUS_PATH, {"POST": Endpoint(self._messages_webhook)}),
            (HEALTH_PATH, {"GET": Endpoint(self._health)}),
            (READY_PATH, {"GET": Endpoint(self._ready)}),
        ]
        if settings.webhook_metrics == "on":  # else off, or on a port of its own (webhook.serve)
            table.append((METRICS_PATH, {"GET": Endpoint(self._metrics)}))
        self.router = Router(table, not_found=NOT_FOUND, not_allowed=not_allowed, trailing_slash=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        # Every push that went through is answered 200: counted once per batch (one update of
        # the shared metrics file instead of one per receipt), before any answer goes out.
        self._writer = StreamWriter(self._queue, loop, lambda count: self._counters.count(200, count))
        self._batched = True

    def close(self) -> None:
        """Stop the writer once the batches handed to it are written."""
        self._writer.close()
        self._writer = DirectWriter(self._queue)
        self._batched = False

    def refused(self, exc: HttpError) -> Answer:
        return error(exc.http_status, exc.reason)

    def internal_error(self, method: str, path: str) -> Answer:
        self._log.exception("receiver_internal_error", path=path)
        return INTERNAL_ERROR

    def observe(self, label: str, answer: Answer) -> None:
        if self._batched and (answer is OK or answer is DUPLICATE or answer is LATE):
            return  # those only follow a push the writer counted
        self._counters.count(answer[0])

    async def _receipt(self, request: Request) -> Answer:
        try:
            body = await request.read_body() if request.method == "POST" else b""
            accepted = self._intake.accept(request.query_string, body, request.header("content-type"))
        except HttpError as exc:
            return self._intake.rejected(exc)
        try:
            entry_id = await self._writer.push(accepted.entry)
        except redis.RedisError as exc:
            return self._intake.unavailable(exc, accepted)
        return self._intake.answered(accepted, entry_id)

    async def _twilio_callback(self, request: Request) -> Answer:
        twilio = self._twilio
        try:
            twilio.check_configured()  # before the body is read
            body = await request.read_body()
            entry = twilio.check(body, request.header("content-type"),
                                 request.header(TWILIO_SIGNATURE_HEADER) or "",
                                 request.header(TWILIO_SETTINGS_HEADER) or "")
        except HttpError as exc:
            return error(exc.http_status, exc.reason)
        try:
            entry_id = await self._writer.push(entry)
        except redis.RedisError as exc:
            twilio.unavailable(exc)
            return QUEUE_UNAVAILABLE
        return OK if entry_id is not None else DUPLICATE

    async def _messages_webhook(self, request: Request) -> Answer:
        try:
            body = await request.read_body()
            entry = self._messages.check(body, request.header("content-type"),
                                         request.header("authorization") or "")
        except HttpError as exc:
            return error(exc.http_status, exc.reason)
        try:
            entry_id = await self._writer.push(entry)
        except redis.RedisError as exc:
            self._messages.unavailable(exc)
            return QUEUE_UNAVAILABLE
        return OK if entry_id is not None else DUPLICATE

    async def _health(self, request: Request) -> Answer:
        return health(await self._writer.ping())

    async def _ready(self, request: Request) -> Answer:
        return ready(await self._writer.ping())

    async def _metrics(self, request: Request) -> Answer:
        return await self._writer.run(metrics_answer)


def receiver_core(settings: Settings, queue: ResultQueue, clock: Callable[[], float] = time.time) -> HttpCore:
    """The receiver on the HTTP core, for either adapter (it runs no handler threads)."""
    return HttpCore(Receiver(settings, queue, clock), body_timeout_s=settings.webhook_body_timeout_s)


def create_app(
    settings: Settings,
    client: redis.Redis | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> WSGIApplication:
    """The receiver as a WSGI app for ``settings``; without ``client``, this process's pooled one."""
    return WSGIAdapter(receiver_core(settings, result_queue(settings, client), clock))
