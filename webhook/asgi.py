"""The receiver for ASGI servers: ``webhook.asgi:app_factory`` (granian ``--interface asgi
--factory``, or any ASGI server that calls a factory).

The same front as granian's RSGI app (:mod:`webhook.front`; granian serves :mod:`webhook.rsgi`,
its cheaper interface), with :class:`ASGIExchange` reading the body from ``receive()`` under the
deadline: ``http.disconnect`` before the last piece is a body cut off (400), more than the
limit is a 413, the deadline passing a 408; each of those answers carries ``Connection:
close``. The lifespan protocol starts and stops the front's writer; a server without it gets
the writer started by the first request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from .deadlines import Deadlines
from .errors import BodyTimeoutError, MalformedReceiptError, ReceiptTooLargeError
from .front import AsyncReceiver, declared_length, tune_worker_process
from .queue import result_queue
from .wsgi import configure_worker, settings_from_env

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
CLOSE: Final = (b"connection", b"close")


class ASGIExchange:
    """An ASGI HTTP request for :meth:`AsyncReceiver.respond`."""

    __slots__ = ("_headers", "_receive", "complete", "method", "path", "query_string")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: str = bytes(scope.get("query_string", b"")).decode("latin-1")
        self._headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name = bytes(raw_name).decode("latin-1").lower()
            value = bytes(raw_value).decode("latin-1")
            self._headers[name] = f"{self._headers[name]},{value}" if name in self._headers else value
        self._receive = receive
        self.complete = True

    def header(self, name: str) -> str | None:
        return self._headers.get(name)

    async def read_body(self, limit: int, deadlines: Deadlines) -> bytes:
        try:
            declared_length(None if "transfer-encoding" in self._headers else self.header("content-length"),
                            limit)
            with deadlines.reading() as read:
                try:
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
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise MalformedReceiptError("the body was cut off before its end")
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ReceiptTooLargeError(f"body larger than {limit} bytes")
            if not message.get("more_body", False):
                return b"".join(chunks)


class ASGIReceiver:
    """The ASGI application: :class:`AsyncReceiver` behind :class:`ASGIExchange`."""

    def __init__(self, front: AsyncReceiver) -> None:
        self._front = front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: not served (granian closes the connection)
        exchange = ASGIExchange(scope, receive)
        status, headers, body = await self._front.respond(exchange)
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        if not exchange.complete:
            raw.append(CLOSE)
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    def close(self) -> None:
        """Stop the front's writer once what it was handed is written."""
        self._front.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._front.start(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


def app_factory() -> ASGIReceiver:
    """Build the receiver from the environment; :class:`ConfigError` without a Redis URL."""
    settings = settings_from_env()
    tune_worker_process()
    configure_worker(settings, interface="asgi")
    return ASGIReceiver(AsyncReceiver(settings, result_queue(settings)))
