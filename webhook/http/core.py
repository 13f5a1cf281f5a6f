"""The transport-free HTTP core: one request in, one answer out, whatever server runs it.

An app (the receiver, :mod:`webhook.app`; the producer API, :mod:`worker.api.app`) is a
route table (:mod:`webhook.http.routing`), a body limit and its own wording of 404, 405,
500 and refusals (:class:`HttpApp`). :class:`HttpCore` answers an :class:`Exchange` for it:

* route; a 404 or 405 is answered without reading anything;
* an endpoint on the loop (the receiver's) reads its body when it wants to
  (:meth:`Request.read_body`); a ``blocking`` one (the API's) gets its body read first, on
  the loop, then runs on a bounded thread pool, so a client stalling mid-body holds a
  coroutine, never a thread, and gets 408 at the deadline;
* a body is read under ``PINRELAY_WEBHOOK_BODY_TIMEOUT`` (:mod:`webhook.http.deadlines`; 408),
  never past the app's limit (413; a Content-Length over it refused before anything is
  read), and one cut off before its end is a 400 (:mod:`webhook.http.errors`);
* an :class:`~webhook.http.errors.HttpError` is answered as the app words it; anything else
  is logged with its traceback by the app and answered 500 without detail;
* the app counts every answer (``observe``).

Two adapters put a server in front (:mod:`webhook.http.rsgi`, granian's RSGI, what production
runs; :mod:`webhook.http.wsgi`, any WSGI server). The RSGI front :meth:`HttpCore.start` s the
core on its event loop: deadlines and the thread pool exist from then on. Never started (WSGI),
the core has neither: blocking handlers run in the server's own thread, bodies are read as
the server hands them over, and an app's coroutines must complete without waiting on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final, Protocol

from .answers import Answer
from .deadlines import Deadlines
from .errors import BadContentLengthError, BodyTooLargeError, HttpError
from .routing import Router
from .threads import BlockingThreads

# What Exchange.header gives for a header whose value is not visible ASCII (granian's RSGI
# hides such values): an app must treat it as a value it does not accept.
UNREADABLE: Final = "\ufffd"


def declared_length(value: str | None, limit: int) -> int | None:
    """A ``Content-Length`` as a number (None: no header); 400 unless ASCII digits, 413 over
    ``limit``: both decided before anything is read."""
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise BadContentLengthError
    length = int(value)
    if length > limit:
        raise BodyTooLargeError(limit)
    return length


class Exchange(Protocol):
    """One request as a server adapter hands it to the core."""

    method: str
    path: str
    query_string: str  # as WSGI has it: the bytes as latin-1
    complete: bool  # False once the body is known not to have been read to its end

    def header(self, name: str) -> str | None:
        """The header's value (``name`` lower-case), :data:`UNREADABLE` if it cannot be read."""

    async def read_body(self, limit: int, deadlines: Deadlines | None) -> bytes:
        """The whole body: at most ``limit`` bytes, before its deadline when there is one; else
        an :class:`HttpError` (413, 408; 400 when the client went away mid-body)."""


class HttpApp(Protocol):
    """What an app gives the core."""

    router: Router
    body_limit: int

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The core was started on ``loop`` (the RSGI front): start what runs beside it."""

    def close(self) -> None:
        """The server is stopping: finish what was handed over."""

    def refused(self, error: HttpError) -> Answer:
        """The answer to a refusal a handler did not answer itself."""

    def internal_error(self, method: str, path: str) -> Answer:
        """Log the exception being handled (a bug) and give the bare 500."""

    def observe(self, label: str, answer: Answer) -> None:
        """Count one answer (``label``: :class:`~webhook.http.routing.Match`'s)."""


class Request:
    """What a handler reads: the request line, headers, path params and (once read) the body."""

    __slots__ = ("_core", "_exchange", "body", "key_id", "method", "params", "path", "query_string")

    def __init__(self, exchange: Exchange, params: Mapping[str, str], core: HttpCore) -> None:
        self._exchange = exchange
        self._core = core
        self.method = exchange.method
        self.path = exchange.path
        self.query_string = exchange.query_string
        self.params = params
        self.body = b""  # until read
        self.key_id = ""  # the caller an app authenticated (the API: its key's id)

    def header(self, name: str) -> str | None:
        """A request header by its lower-case name, or None."""
        return self._exchange.header(name)

    async def read_body(self, limit: int = 0) -> bytes:
        """The whole body, under ``limit`` (0: the app's) and the core's deadline (see :class:`Exchange`)."""
        self.body = await self._exchange.read_body(limit or self._core.body_limit, self._core.deadlines)
        return self.body


class HttpCore:
    """Answers :class:`Exchange` s for one :class:`HttpApp`."""

    def __init__(self, app: HttpApp, *, body_timeout_s: float, threads: int = 0) -> None:
        self.app = app
        self.body_limit = app.body_limit
        self.body_timeout_s = body_timeout_s
        self._threads = threads
        self.deadlines: Deadlines | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: BlockingThreads | None = None

    @property
    def started(self) -> bool:
        return self._loop is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve on ``loop``: body deadlines, the handlers' thread pool, the app's own start."""
        if self._loop is not None:
            return
        self._loop = loop
        self.deadlines = Deadlines(loop, self.body_timeout_s)
        if self._threads:
            self._pool = BlockingThreads(loop, "http-handler", self._threads)
        self.app.start(loop)

    def close(self) -> None:
        """Let the handlers running finish, then the app's own close."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self.app.close()
        self._loop = self.deadlines = None

    async def respond(self, exchange: Exchange) -> Answer:
        """The answer to ``exchange``; never raises (a bug is a logged 500)."""
        app = self.app
        match = app.router.resolve(exchange.path, exchange.method)
        endpoint = match.endpoint
        if endpoint is None:
            answer: Answer = match.answer  # type: ignore[assignment]  # set whenever endpoint is not
        else:
            try:
                request = Request(exchange, match.params, self)
                if not endpoint.blocking:
                    answer = await endpoint.handler(request)
                else:
                    if endpoint.body:
                        await request.read_body(endpoint.body_limit)
                    if self._pool is None:  # WSGI: the server's own thread
                        answer = endpoint.handler(request)
                    else:
                        answer = await self._pool.run(endpoint.handler, request)
            except HttpError as exc:
                answer = app.refused(exc)
            except Exception:
                answer = app.internal_error(exchange.method, exchange.path)
        app.observe(match.label, answer)
        return answer
