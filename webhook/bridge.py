"""The receiver's WSGI app behind an ASGI front that reads each body with a deadline.

Why not plain WSGI under granian: granian's ``wsgi.input`` blocks its thread until the
client sends more (its ``read`` waits on the body stream with no timeout; granian's only
timeout, ``--http1-header-read-timeout``, covers the headers, holds no thread, and also
closes idle keep-alive connections, so it stays at granian's 30 s; and a read started on
another thread wedged the whole worker when tried), so a few dozen clients that send
headers and half a body hold every thread, ``/healthz`` included. Here granian runs its ASGI
interface: the body is collected by the event loop, which costs a coroutine and not a
thread per stalled client, under ``PINRELAY_WEBHOOK_BODY_TIMEOUT`` (after it: 408 and the
connection closed). Only a complete body reaches the app, which runs unchanged
(:class:`webhook.app.ReceiverApp`, a plain WSGI callable) on ``PINRELAY_WEBHOOK_THREADS``
threads (:mod:`webhook.threads`), with the body from memory.

How a body can end, and what the app then reads from ``wsgi.input``:

* complete: the bytes;
* longer than the body limit: at most limit + 1 bytes (the app answers 413; with a
  ``Content-Length`` over the limit nothing is read at all);
* the deadline passed: the bytes so far, then :class:`~webhook.errors.BodyTimeoutError`
  (408);
* the client went away before the end (a cut-off chunked body, fewer bytes than its
  ``Content-Length``): the bytes so far, then :class:`~webhook.errors.MalformedReceiptError`
  (400). granian's WSGI interface returned end-of-file there, so a truncated
  ``status=delivered`` was queued as ``status=de``.

A response to a body that was not read to its end carries ``Connection: close``, so the
stalled client's connection (and what it holds) goes away with the answer.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any, Final
from wsgiref.types import WSGIApplication, WSGIEnvironment

from .errors import BodyTimeoutError, MalformedReceiptError, ReceiptError
from .threads import AppThreads

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SPECIAL_HEADERS: Final = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}


class BufferedInput:
    """``wsgi.input`` over a body already in memory; past its end, ``error`` (if any) is raised.

    The error stands for the part that never arrived, so an app that stops reading at
    the declared length of a complete body never sees it.
    """

    def __init__(self, data: bytes, error: ReceiptError | None = None) -> None:
        self._buffer = io.BytesIO(data)
        self._error = error

    def _check(self, chunk: bytes, size: int | None) -> bytes:
        if not chunk and size != 0 and self._error is not None:
            raise self._error
        return chunk

    def read(self, size: int | None = -1) -> bytes:
        return self._check(self._buffer.read(size), size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._check(self._buffer.readline(size), size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return self._buffer.readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._buffer)


Body = tuple[bytes, ReceiptError | None, bool]


async def read_body(receive: Receive, *, limit: int, timeout_s: float, declared: str) -> Body:
    """``(body, error, complete)``: the body's bytes (at most ``limit + 1``), the error an app
    reading past them gets, and whether the body was read to its end."""
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        return b"", None, False  # the app refuses it (413) from the header alone
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    cut = MalformedReceiptError("the body was cut off before its end")
                    return b"".join(chunks), cut, False
                chunk = message.get("body", b"")
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return b"".join(chunks)[: limit + 1], None, False
                if not message.get("more_body", False):
                    return b"".join(chunks), None, True
    except TimeoutError:
        late = BodyTimeoutError(f"the body did not arrive within {timeout_s:g} s")
        return b"".join(chunks), late, False


def environ_for(scope: Scope, body: BufferedInput) -> WSGIEnvironment:
    """The PEP 3333 environ of an ASGI HTTP request (strings are latin-1 views of the bytes)."""
    server = scope.get("server") or ("127.0.0.1", 0)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = bytes(raw_name).lower()
        key = _SPECIAL_HEADERS.get(name) or "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        value = bytes(raw_value).decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_wsgi(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run ``app`` once (on a pool thread); its status code, headers and whole body."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return lambda data: None

    result: Iterable[bytes] = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    return int(status[:3]), [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers], body


class BodyDeadlineBridge:
    """The ASGI callable granian serves: body under a deadline, then the WSGI app on a pool."""

    def __init__(self, app: WSGIApplication, *, body_limit: int, body_timeout_s: float, threads: int) -> None:
        self._app = app
        self._limit = body_limit
        self._timeout = body_timeout_s
        self._threads = threads
        self._runner: AppThreads | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not served (granian closes the connection)
        declared = next((bytes(v).decode("latin-1").strip() for k, v in scope.get("headers", ())
                         if bytes(k).lower() == b"content-length"), "")  # fmt: skip
        data, error, complete = await read_body(receive, limit=self._limit, timeout_s=self._timeout,
                                                declared=declared)  # fmt: skip
        environ = environ_for(scope, BufferedInput(data, error))
        if self._runner is None:
            self._runner = AppThreads(asyncio.get_running_loop(), self._threads)
        status, headers, body = await self._runner.submit(call_wsgi, self._app, environ)
        if not complete:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def close(self) -> None:
        """Let the requests in progress finish, then stop the app's threads."""
        if self._runner is not None:
            self._runner.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return
