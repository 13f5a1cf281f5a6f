"""The RSGI front: what granian serves (``--interface rsgi --factory``), for any app on the core.

RSGI is granian's own interface and its cheapest: the request's scope comes as a Rust
object, the answer goes back in one call, and the body is read by granian (``await
proto()``: the whole body; ``async for chunk in proto``: piece by piece). What this module
adds is :class:`RSGIExchange`, which reads the body by the core's rules
(:mod:`webhook.http.core`):

* with a ``Content-Length`` (within the limit, checked first) the whole body in one
  ``await proto()`` under the deadline; a client that goes away before the end makes granian
  raise, which is a 400;
* without one (chunked) piece by piece, stopping past the limit. granian's iterator ends
  with one empty piece; a failed read (the client went away mid-body) also comes out as an
  empty piece, followed by the end's, so a second empty piece means cut off (400). (Trailers
  come out as an empty piece too: a chunked body with trailers is refused the same way.)

A body not read to its end (too large, too slow, cut off) gets ``Connection: close`` on its
answer, so the client's connection, and whatever it still holds, goes with it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Final

from .core import UNREADABLE, HttpCore, declared_length
from .deadlines import Deadlines
from .errors import BodyCutOffError, BodyTimeoutError, BodyTooLargeError, HttpError

CLOSE: Final = ("Connection", "close")
# How long a thread holding the GIL keeps it while another waits (Python's default: 5 ms). In a
# worker, granian's runtime thread needs the GIL to hand each request to the loop, and the
# receipt writer (or a handler thread) needs it around each call: with the loop busy, 5 ms
# waits stretched every answer (receiver, 2 workers, 50 connections, wrk: p99 ~60 -> ~30 ms and
# ~1.6x the receipts/s at 0.5 ms; 0.1 ms was worse than 0.5 ms).
GIL_SWITCH_INTERVAL_S: Final = 0.0005


def tune_worker_process() -> None:
    """For a granian worker process that runs the front: the GIL switch interval above."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class RSGIExchange:
    """An RSGI request for :meth:`HttpCore.respond`."""

    __slots__ = ("_headers", "_proto", "complete", "method", "path", "query_string")

    def __init__(self, scope: Any, proto: Any) -> None:
        self.method: str = scope.method
        self.path: str = scope.path
        self.query_string: str = scope.query_string  # hyper lets only ASCII into a request target
        self._headers = scope.headers
        self._proto = proto
        self.complete = True

    def header(self, name: str) -> str | None:
        value: str | None = self._headers.get(name)
        if value is None and name in self._headers:
            return UNREADABLE  # there, but not visible ASCII: granian does not hand such values over
        return value

    async def read_body(self, limit: int, deadlines: Deadlines | None) -> bytes:
        try:
            declared = None if "transfer-encoding" in self._headers else self.header("content-length")
            declared_length(declared, limit)
            if deadlines is None:
                return await self._read(declared, limit)
            with deadlines.reading() as read:
                try:
                    return await self._read(declared, limit)
                except asyncio.CancelledError:
                    if read.expired():
                        raise BodyTimeoutError(deadlines.timeout_s) from None
                    raise
        except HttpError:
            self.complete = False
            raise

    async def _read(self, declared: str | None, limit: int) -> bytes:
        if declared is None:
            return await self._pieces(limit)
        try:
            body: bytes = await self._proto()
        except RuntimeError:  # RSGIProtocolClosed: the client went away mid-body
            raise BodyCutOffError from None
        return body

    async def _pieces(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        ended = False
        async for chunk in self._proto:
            if ended:
                raise BodyCutOffError
            if not chunk:
                ended = True
                continue
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise BodyTooLargeError(limit)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class RSGIFront:
    """The RSGI application: an :class:`HttpCore` behind :class:`RSGIExchange`."""

    def __init__(self, core: HttpCore) -> None:
        self.core = core

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.core.start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.core.close()

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return  # websockets: not served (granian runs with --no-ws)
        if not self.core.started:  # a server that never called __rsgi_init__
            self.core.start(asyncio.get_running_loop())
        exchange = RSGIExchange(scope, proto)
        status, headers, body = await self.core.respond(exchange)
        proto.response_bytes(status, headers if exchange.complete else [*headers, CLOSE], body)
