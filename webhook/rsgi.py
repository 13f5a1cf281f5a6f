"""The app granian serves: ``webhook.rsgi:app_factory`` (``--interface rsgi --factory``).

RSGI is granian's own interface and its cheapest: the request's scope comes as a Rust
object, the answer goes back in one call, and the body is read by granian (``await
proto()``: the whole body; ``async for chunk in proto``: piece by piece). What this module
adds is :class:`RSGIExchange`, which reads the body by the front's rules
(:mod:`webhook.front`):

* with a ``Content-Length`` (within the limit, checked first) the whole body in one
  ``await proto()`` under the deadline; a client that goes away before the end makes granian
  raise, which is a 400;
* without one (chunked) piece by piece, stopping past the limit. granian's iterator ends
  with one empty piece; a failed read (the client went away mid-body) also comes out as an
  empty piece, followed by the end's, so a second empty piece means cut off (400). (Trailers
  come out as an empty piece too: a chunked receipt with trailers is refused the same way.)

A body not read to its end (too large, too slow, cut off) gets ``Connection: close`` on its
answer, so the client's connection, and whatever it still holds, goes with it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from .deadlines import Deadlines
from .errors import BodyTimeoutError, MalformedReceiptError, ReceiptTooLargeError
from .front import UNREADABLE, AsyncReceiver, declared_length, tune_worker_process
from .queue import result_queue
from .wsgi import configure_worker, settings_from_env

CLOSE: Final = ("Connection", "close")


class RSGIExchange:
    """An RSGI request for :meth:`AsyncReceiver.respond`."""

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

    async def read_body(self, limit: int, deadlines: Deadlines) -> bytes:
        try:
            declared = None if "transfer-encoding" in self._headers else self.header("content-length")
            declared_length(declared, limit)
            with deadlines.reading() as read:
                try:
                    if declared is not None:
                        try:
                            body: bytes = await self._proto()
                        except RuntimeError:  # RSGIProtocolClosed: the client went away mid-body
                            raise MalformedReceiptError("the body was cut off before its end") from None
                        return body
                    return await self._pieces(limit)
                except asyncio.CancelledError:
                    if read.expired():
                        raise BodyTimeoutError(deadlines.message()) from None
                    raise
        except (BodyTimeoutError, MalformedReceiptError, ReceiptTooLargeError):
            self.complete = False
            raise

    async def _pieces(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        ended = False
        async for chunk in self._proto:
            if ended:
                raise MalformedReceiptError("the body was cut off before its end")
            if not chunk:
                ended = True
                continue
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ReceiptTooLargeError(f"body larger than {limit} bytes")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class RSGIReceiver:
    """The RSGI application: :class:`AsyncReceiver` behind :class:`RSGIExchange`."""

    def __init__(self, front: AsyncReceiver) -> None:
        self._front = front

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._front.start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._front.close()

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return  # websockets: not served (granian runs with --no-ws)
        exchange = RSGIExchange(scope, proto)
        status, headers, body = await self._front.respond(exchange)
        proto.response_bytes(status, headers if exchange.complete else [*headers, CLOSE], body)


def app_factory() -> RSGIReceiver:
    """Build the receiver from the environment; :class:`ConfigError` without a Redis URL."""
    settings = settings_from_env()
    tune_worker_process()
    configure_worker(settings, interface="rsgi")
    return RSGIReceiver(AsyncReceiver(settings, result_queue(settings)))
