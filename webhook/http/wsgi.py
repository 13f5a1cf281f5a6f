"""The WSGI adapter: any app on the core as a plain WSGI callable (PEP 3333).

For whoever mounts the receiver under their own WSGI server. WSGI has no way to bound how
long a body takes to arrive: run it behind a proxy that buffers whole requests (nginx's
default), or use granian with the RSGI front (:mod:`webhook.http.rsgi`), which has the body
deadline. The body is still never read past the limit (413; a Content-Length over it
refused before reading), and one shorter than its Content-Length is a 400.

The core is never started here, so it has no event loop: :func:`run_to_end` drives its
coroutine to the end in the server's thread, blocking handlers run in that thread, and the
app's own coroutines complete without waiting on anything (the receiver pushes receipts with
its blocking queue). Hop-by-hop headers (``Connection``) are the server's business in WSGI.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import IO, Any, Final, TypeVar
from wsgiref.types import StartResponse, WSGIEnvironment

from .answers import STATUS_LINES
from .core import HttpCore, declared_length
from .deadlines import Deadlines
from .errors import BodyCutOffError, BodyTooLargeError

READ_CHUNK_BYTES: Final = 16 * 1024
T = TypeVar("T")


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never waits (RuntimeError if it tries to)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a request under WSGI waited on an event loop it does not have")


class WSGIExchange:
    """A WSGI environ for :meth:`HttpCore.respond`."""

    __slots__ = ("_environ", "complete", "method", "path", "query_string")

    def __init__(self, environ: WSGIEnvironment) -> None:
        self._environ = environ
        self.method: str = environ.get("REQUEST_METHOD", "GET")
        self.path: str = environ.get("PATH_INFO") or "/"
        self.query_string: str = environ.get("QUERY_STRING", "")
        self.complete = True

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = self._environ.get(key)
        return None if value is None else str(value)

    async def read_body(self, limit: int, deadlines: Deadlines | None) -> bytes:
        """With a Content-Length the decision is made before reading anything; without one
        (chunked) the body is read in chunks up to ``limit + 1`` bytes."""
        stream: IO[bytes] = self._environ["wsgi.input"]
        length = declared_length((self.header("content-length") or "").strip() or None, limit)
        budget = limit + 1 if length is None else length
        chunks: list[bytes] = []
        received = 0
        while received < budget:
            chunk = stream.read(min(READ_CHUNK_BYTES, budget - received))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        if received > limit:
            raise BodyTooLargeError(limit)
        if length is not None and received < length:
            raise BodyCutOffError
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class WSGIAdapter:
    """The WSGI callable: an :class:`HttpCore` behind :class:`WSGIExchange`."""

    def __init__(self, core: HttpCore) -> None:
        self.core = core

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        status, headers, body = run_to_end(self.core.respond(WSGIExchange(environ)))
        start_response(STATUS_LINES[status], list(headers))
        return [body]
