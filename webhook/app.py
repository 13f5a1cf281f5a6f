"""The receipt receiver as a plain WSGI callable, and its tiny route table.

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
                                           403 bad ``X-Twilio-Signature`` (twilio_status.py)
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
:mod:`webhook.receipts`, pushes through :mod:`webhook.queue` and answers. Under granian
it runs behind :mod:`webhook.bridge`, which has read the whole body (with a deadline)
before the app is called.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import IO, Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import redis

from worker.config import Settings
from worker.logs import get_logger

from . import metrics
from .errors import MalformedReceiptError, ReceiptError, ReceiptTooLargeError
from .queue import ResultQueue, connect
from .receipts import Receipt, check_signature, parse_params
from .twilio_status import TWILIO_STATUS_PATH, TwilioStatus

RECEIPT_PATH: Final = "/delivery-receipt-webhook"
HEALTH_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"
METRICS_PATH: Final = "/metrics"
READ_CHUNK_BYTES: Final = 16 * 1024
SERVICE_NAME: Final = "pinrelay-webhook"  # in /readyz: the answer is ours, not another server's

Handler = Callable[[WSGIEnvironment], "Response"]
Response = tuple[str, list[tuple[str, str]], bytes]


def _response(status: int, payload: object, extra: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers.extend(extra)
    return f"{status} {HTTPStatus(status).phrase}", headers, body


def _error(status: int, reason: str) -> Response:
    return _response(status, {"error": reason})


OK: Final = _response(200, {"status": "ok"})
DUPLICATE: Final = _response(200, {"status": "duplicate"})
NOT_FOUND: Final = _error(404, "not found")
QUEUE_UNAVAILABLE: Final = _error(503, "result queue unavailable, retry later")
INTERNAL_ERROR: Final = _error(500, "internal error")


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
        self._clock = clock
        self._limit = settings.webhook_body_limit_bytes
        self._secret = settings.signature_secret
        self._method = settings.signature_method
        self._window = settings.signature_window_s
        self._log = get_logger("webhook.receiver")
        twilio = TwilioStatus(settings, queue, read_body, clock)
        self._routes: dict[str, dict[str, Handler]] = {
            RECEIPT_PATH: {"GET": self._receipt, "POST": self._receipt},
            TWILIO_STATUS_PATH: {"POST": lambda environ: _response(*twilio.handle(environ))},
            HEALTH_PATH: {"GET": self._healthz},
            READY_PATH: {"GET": self._readyz},
        }
        if settings.webhook_metrics == "on":  # else off, or on a port of its own (webhook.serve)
            self._routes[METRICS_PATH] = {"GET": self._metrics}
        self._counters = {code: metrics.REQUESTS.labels(status=str(code))
                          for code in (200, 400, 401, 403, 404, 405, 408, 413, 415, 500, 503)}  # fmt: skip
        self._not_allowed = {
            path: _response(405, {"error": "method not allowed"}, [("Allow", ", ".join(m))])
            for path, m in self._routes.items()
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        try:
            status, headers, body = self._dispatch(environ)
        except Exception:
            self._log.exception("receiver_internal_error", path=environ.get("PATH_INFO"))
            status, headers, body = INTERNAL_ERROR
        counter = self._counters.get(int(status[:3]))
        if counter is not None:
            counter.inc()
        start_response(status, list(headers))
        return [body]

    def _dispatch(self, environ: WSGIEnvironment) -> Response:
        path = environ.get("PATH_INFO") or "/"
        methods = self._routes.get(path)
        if methods is None and len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
            methods = self._routes.get(path)
        if methods is None:
            return NOT_FOUND
        handler = methods.get(environ.get("REQUEST_METHOD", "GET"))
        if handler is None:
            return self._not_allowed[path]
        return handler(environ)

    def _receipt(self, environ: WSGIEnvironment) -> Response:
        try:
            body = read_body(environ, self._limit) if environ["REQUEST_METHOD"] == "POST" else b""
            params = parse_params(environ.get("QUERY_STRING", ""), body, environ.get("CONTENT_TYPE"))
            now = self._clock()
            if self._secret is not None:
                check_signature(
                    params, secret=self._secret, method=self._method, window_s=self._window, now=now
                )
            receipt = Receipt(params)
        except ReceiptError as exc:
            self._log.info("receipt_rejected", http_status=exc.http_status, reason=exc.reason)
            return _error(exc.http_status, exc.reason)
        replay_keys = receipt.replay_keys if self._secret is not None else []
        try:
            entry_id = self._queue.push(receipt.stream_fields(now), replay_keys)
        except redis.RedisError as exc:
            self._log.warning(
                "receipt_queue_unavailable", error=type(exc).__name__, message_id=receipt.message_id
            )
            return QUEUE_UNAVAILABLE
        if entry_id is None:
            self._log.info("receipt_replayed", message_id=receipt.message_id, status=receipt.status)
            return DUPLICATE
        self._log.debug("receipt_queued", message_id=receipt.message_id, entry_id=entry_id)
        return OK

    def _healthz(self, environ: WSGIEnvironment) -> Response:
        return _response(200, {"status": "ok", "redis": self._queue.ping()})

    def _metrics(self, environ: WSGIEnvironment) -> Response:
        content_type, body = metrics.render()
        return "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))], body

    def _readyz(self, environ: WSGIEnvironment) -> Response:
        """Ready means Redis answers; ``service`` lets a supervisor tell us from whatever else
        might answer on the port."""
        if self._queue.ping():
            return _response(200, {"service": SERVICE_NAME, "status": "ok", "redis": True})
        return _response(503, {"service": SERVICE_NAME, "status": "unavailable", "redis": False})


def create_app(
    settings: Settings,
    client: redis.Redis | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> WSGIApplication:
    """The receiver for ``settings``; without ``client``, this process's pooled one."""
    queue = ResultQueue(
        client if client is not None else connect(settings),
        settings.key_prefix,
        # A timestamp may be up to `window` ahead of our clock, so a nonce must
        # be remembered for two windows to outlive every moment it is accepted.
        nonce_ttl_s=2 * settings.signature_window_s,
        backlog_max=settings.webhook_backlog_max,
    )
    return ReceiverApp(settings, queue, clock)
