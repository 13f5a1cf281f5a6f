"""The receiver as a coroutine: what granian serves (RSGI, :mod:`webhook.rsgi`; or ASGI,
:mod:`webhook.asgi`), with no thread per request.

Same routes, checks and answers as the WSGI app (:mod:`webhook.app`): both go through
:mod:`webhook.routes` and :mod:`webhook.intake`. What differs is how a request waits:

* its body is read by the event loop under ``PINRELAY_WEBHOOK_BODY_TIMEOUT``
  (:mod:`webhook.deadlines`; granian's WSGI interface has no body read timeout, so there a
  client stalling mid-body held a thread; here it holds a coroutine, and after the deadline
  gets 408 and its connection closed), never more than the body limit (413 beyond it; a
  ``Content-Length`` over it is refused before anything is read), and a body cut off before
  its end is a 400;
* its receipt is pushed through a :class:`~webhook.writer.StreamWriter`, which
  group-commits the pushes of every request waiting on this loop in one script call
  on one thread, and the 200 goes out only once that call returned.

A server interface hands each request over as an :class:`Exchange`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Final, Protocol

import redis

from worker.config import Settings
from worker.logs import get_logger

from . import routes
from .deadlines import Deadlines
from .errors import MalformedReceiptError, ReceiptError, ReceiptTooLargeError
from .intake import ReceiptIntake
from .queue import ResultQueue
from .routes import DUPLICATE, INTERNAL_ERROR, OK, Response
from .twilio.status import TwilioStatus
from .writer import StreamWriter

# What Exchange.header gives for a header whose value is not visible ASCII (granian's RSGI
# hides such values): a Content-Type nobody accepts, so such a body is a 415, never a form.
UNREADABLE: Final = "\ufffd"
TWILIO_SIGNATURE_HEADER: Final = "x-twilio-signature"
# How long a thread holding the GIL keeps it while another waits (Python's default: 5 ms). In a
# worker, granian's runtime thread needs the GIL to hand each request to the loop, and the
# receipt writer needs it around each batch: with the loop busy, 5 ms waits stretched every
# answer (2 workers, 50 connections, wrk: p99 ~60 -> ~30 ms and ~1.6x the receipts/s at 0.5 ms;
# 0.1 ms was worse than 0.5 ms).
GIL_SWITCH_INTERVAL_S: Final = 0.0005


class Exchange(Protocol):
    """One request as a server interface hands it to the front."""

    method: str
    path: str
    query_string: str  # as WSGI has it: the bytes as latin-1
    complete: bool  # False once the body is known not to have been read to its end

    def header(self, name: str) -> str | None:
        """The header's value (``name`` lower-case), :data:`UNREADABLE` if it cannot be read."""

    async def read_body(self, limit: int, deadlines: Deadlines) -> bytes:
        """The whole body: at most ``limit`` bytes before its deadline, else a
        :class:`ReceiptError` (413, 408; 400 when the client went away mid-body)."""


def declared_length(value: str | None, limit: int) -> int | None:
    """A ``Content-Length`` as a number (None: no header); 400 unless ASCII digits, 413 over
    ``limit``, both decided before anything is read."""
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise MalformedReceiptError("bad Content-Length")
    length = int(value)
    if length > limit:
        raise ReceiptTooLargeError(f"body larger than {limit} bytes")
    return length


def tune_worker_process() -> None:
    """For a server worker process that runs the front: the GIL switch interval above."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class AsyncReceiver:
    """Answers :class:`Exchange` s; :meth:`start` it on the server's event loop first."""

    def __init__(self, settings: Settings, queue: ResultQueue,
                 clock: Callable[[], float] = time.time) -> None:
        self._queue = queue
        self._limit = settings.webhook_body_limit_bytes
        self._timeout = settings.webhook_body_timeout_s
        self._intake = ReceiptIntake(settings, queue, clock)
        self._twilio = TwilioStatus(settings, queue, clock)
        self._routes = routes.Routes(metrics_on=settings.webhook_metrics == "on")
        self._counters = routes.StatusCounters()
        self._log = get_logger("webhook.receiver")
        self._writer: StreamWriter | None = None
        self._deadlines: Deadlines | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer on ``loop`` (the loop every request is then answered on)."""
        if self._writer is None:
            # Every push that went through is answered 200: counted once per batch (one update
            # of the shared metrics file instead of one per receipt), before any answer goes out.
            self._writer = StreamWriter(self._queue, loop, lambda count: self._counters.count(200, count))
            self._deadlines = Deadlines(loop, self._timeout)

    def close(self) -> None:
        """Stop the writer once the batches handed to it are written."""
        if self._writer is not None:
            self._writer.close()
            self._writer = self._deadlines = None

    async def respond(self, exchange: Exchange) -> Response:
        """The answer to ``exchange``; never raises (a bug is a logged 500)."""
        try:
            route = self._routes.resolve(exchange.path, exchange.method)
            if isinstance(route, tuple):
                answer = route
            elif route == routes.RECEIPT:
                answer = await self._receipt(exchange)
            else:
                answer = await self._other(route, exchange)
        except Exception:
            self._log.exception("receiver_internal_error", path=exchange.path)
            answer = INTERNAL_ERROR
        if answer is not OK and answer is not DUPLICATE:  # those two only follow a push the writer counted
            self._counters.count(answer[0])
        return answer

    def _started(self) -> tuple[StreamWriter, Deadlines]:
        if self._writer is None:  # a server that never said it started (or an ASGI one without lifespan)
            self.start(asyncio.get_running_loop())
        assert self._writer is not None and self._deadlines is not None
        return self._writer, self._deadlines

    async def _receipt(self, exchange: Exchange) -> Response:
        writer, deadlines = self._started()
        try:
            body = await exchange.read_body(self._limit, deadlines) if exchange.method == "POST" else b""
            accepted = self._intake.accept(exchange.query_string, body, exchange.header("content-type"))
        except ReceiptError as exc:
            return self._intake.rejected(exc)
        try:
            entry_id = await writer.push(accepted.entry)
        except redis.RedisError as exc:
            return self._intake.unavailable(exc, accepted)
        return self._intake.answered(accepted, entry_id)

    async def _other(self, route: str, exchange: Exchange) -> Response:
        writer, deadlines = self._started()
        if route == routes.HEALTH:
            return routes.health(await writer.ping())
        if route == routes.READY:
            return routes.ready(await writer.ping())
        if route == routes.METRICS:
            return await writer.thread.run(routes.metrics_page)
        return await self._twilio_callback(exchange, writer, deadlines)

    async def _twilio_callback(self, exchange: Exchange, writer: StreamWriter,
                               deadlines: Deadlines) -> Response:
        twilio = self._twilio
        try:
            twilio.check_configured()
            body = await exchange.read_body(twilio.limit, deadlines)
            entry = twilio.check(body, exchange.header("content-type"),
                                 exchange.header(TWILIO_SIGNATURE_HEADER) or "")
        except ReceiptError as exc:
            return routes.error(exc.http_status, exc.reason)
        try:
            entry_id = await writer.push(entry)
        except redis.RedisError as exc:
            return routes.response(*twilio.unavailable(exc))
        return OK if entry_id is not None else DUPLICATE  # what twilio.answered says, as the shared answers
