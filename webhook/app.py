"""The receipt receiver as a plain WSGI callable; what it answers (routes: :mod:`webhook.routes`).

=========================================  ==========================================
request                                    answer
=========================================  ==========================================
GET|POST /delivery-receipt-webhook         200 ``{"status":"ok"}`` once on the stream;
                                           200 ``{"status":"duplicate"}`` for a replayed
                                           signed nonce (or signature); 400 malformed or
                                           cut off; 401 signature; 408 body too slow;
                                           413 body too large; 415 content type;
                                           503 Redis unreachable or the stream full
POST /twilio-status-webhook                200 once on the stream (``duplicate`` for a repeat);
                                           403 bad ``X-Twilio-Signature`` (twilio/status.py)
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

This layer only moves bytes: it reads the body (bounded), hands it to
:mod:`webhook.intake` (parse, validate, signature), pushes through :mod:`webhook.queue` and
answers. The route table and the answers are :mod:`webhook.routes`, shared with the async
front granian serves (:mod:`webhook.front`); this WSGI callable is for any WSGI server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import redis

from worker.config import Settings
from worker.logs import get_logger

from . import routes
from .errors import MalformedReceiptError, ReceiptError, ReceiptTooLargeError
from .intake import ReceiptIntake
from .queue import ResultQueue, result_queue
from .routes import (
    HEALTH_PATH,
    INTERNAL_ERROR,
    METRICS_PATH,
    READY_PATH,
    RECEIPT_PATH,
    SERVICE_NAME,
    Response,
)
from .twilio.status import TwilioStatus

# The paths and the service name were always importable from here.
__all__ = ["HEALTH_PATH", "METRICS_PATH", "READY_PATH", "RECEIPT_PATH", "SERVICE_NAME", "ReceiverApp",
           "create_app", "read_body"]

READ_CHUNK_BYTES: Final = 16 * 1024
Handler = Callable[[WSGIEnvironment], Response]


def read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """The request body, never more than ``limit`` bytes read (413 beyond it).

    With a Content-Length the decision is made before reading anything; without
    one (chunked) the body is read in chunks up to ``limit + 1`` bytes.
    """
    stream: IO[bytes] = environ["wsgi.input"]
    declared = (environ.get("CONTENT_LENGTH") or "").strip()
    if declared:
        if not (declared.isascii() and declared.isdigit()):
            raise MalformedReceiptError("bad Content-Length")
        length = int(declared)
        if length > limit:
            raise ReceiptTooLargeError(f"body larger than {limit} bytes")
        budget = length
    else:
        budget = limit + 1
    chunks: list[bytes] = []
    received = 0
    while received < budget:
        chunk = stream.read(min(READ_CHUNK_BYTES, budget - received))
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    if received > limit:
        raise ReceiptTooLargeError(f"body larger than {limit} bytes")
    if declared and received < budget:
        raise MalformedReceiptError("body shorter than Content-Length")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ReceiverApp:
    """The WSGI callable; build it with :func:`create_app`."""

    def __init__(
        self, settings: Settings, queue: ResultQueue, clock: Callable[[], float] = time.time
    ) -> None:
        self._queue = queue
        self._limit = settings.webhook_body_limit_bytes
        self._log = get_logger("webhook.receiver")
        self._intake = ReceiptIntake(settings, queue, clock)
        self._twilio = TwilioStatus(settings, queue, clock)
        self._routes = routes.Routes(metrics_on=settings.webhook_metrics == "on")
        self._handlers: dict[str, Handler] = {
            routes.RECEIPT: self._receipt,
            routes.TWILIO: lambda environ: routes.response(*self._twilio.handle(environ, read_body)),
            routes.HEALTH: lambda environ: routes.health(self._queue.ping()),
            routes.READY: lambda environ: routes.ready(self._queue.ping()),
            routes.METRICS: lambda environ: routes.metrics_page(),
        }
        self._counters = routes.StatusCounters()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        try:
            status, headers, body = self._dispatch(environ)
        except Exception:
            self._log.exception("receiver_internal_error", path=environ.get("PATH_INFO"))
            status, headers, body = INTERNAL_ERROR
        self._counters.count(status)
        start_response(routes.STATUS_LINES[status], list(headers))
        return [body]

    def _dispatch(self, environ: WSGIEnvironment) -> Response:
        route = self._routes.resolve(environ.get("PATH_INFO") or "/", environ.get("REQUEST_METHOD", "GET"))
        if isinstance(route, tuple):
            return route
        return self._handlers[route](environ)

    def _receipt(self, environ: WSGIEnvironment) -> Response:
        try:
            body = read_body(environ, self._limit) if environ["REQUEST_METHOD"] == "POST" else b""
            accepted = self._intake.accept(environ.get("QUERY_STRING", ""), body, environ.get("CONTENT_TYPE"))
        except ReceiptError as exc:
            return self._intake.rejected(exc)
        try:
            entry_id = self._queue.push_entry(accepted.entry)
        except redis.RedisError as exc:
            return self._intake.unavailable(exc, accepted)
        return self._intake.answered(accepted, entry_id)


def create_app(
    settings: Settings,
    client: redis.Redis | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> WSGIApplication:
    """The receiver for ``settings``; without ``client``, this process's pooled one."""
    return ReceiverApp(settings, result_queue(settings, client), clock)
