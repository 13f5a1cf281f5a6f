"""An in-process RSGI driver: an app's RSGI front (what granian serves) answering one request.

:func:`call` builds the scope and protocol objects granian would hand over and runs the front
on a fresh event loop, started and closed around the request as a granian worker does
(``__rsgi_init__`` / ``__rsgi_del__``). The body comes as a schedule of pieces, each after a
delay; a schedule may end the body (``ends``), stall for ever, or end with :data:`CUT` (the
client went away). The fake protocol behaves as granian's does (webhook/http/rsgi.py says how:
``await proto()`` raises when the client went away; the iterator ends with one empty piece,
and a failed read is one more); header values that are not visible ASCII are there but not
handed over. The real server is in the integration and reliability tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

CUT: Final = object()  # in a schedule: the client goes away here
Schedule = Sequence[tuple[float, Any]]  # (delay before it, a piece of body or CUT)


class Headers(dict[str, str]):
    """Answer headers, looked up case-insensitively."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


@dataclass
class Answer:
    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _visible(value: str) -> bool:
    return all(0x20 <= ord(ch) < 0x7F for ch in value)


class _RSGIHeaders:
    """granian's RSGIHeaders: lower-case names; a value that is not visible ASCII is there
    (``in``) but not handed over (``get`` gives None)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = [(k.lower(), v) for k, v in pairs]

    def get(self, name: str, default: Any = None) -> Any:
        return next((v for k, v in self._pairs if k == name and _visible(v)), default)

    def __contains__(self, name: str) -> bool:
        return any(k == name for k, _ in self._pairs)


class _Scope:
    proto = "http"

    def __init__(self, method: str, path: str, query: str, headers: Iterable[tuple[str, str]]) -> None:
        self.method, self.path, self.query_string = method, path, query
        self.headers = _RSGIHeaders(headers)


class _Proto:
    """granian's RSGIHTTPProtocol over a schedule of body pieces (then, unless cut, the end)."""

    def __init__(self, schedule: Schedule, ends: bool) -> None:
        self._schedule = iter(schedule)
        self._ends = ends  # after the schedule: the end (True) or a client that never sends more
        self._state = "body"
        self.sent: tuple[int, list[tuple[str, str]], bytes] | None = None

    async def _next_piece(self) -> Any:
        try:
            delay, piece = next(self._schedule)
        except StopIteration:
            if not self._ends:
                await asyncio.sleep(3600)
            return None
        await asyncio.sleep(delay)
        return piece

    async def __call__(self) -> bytes:
        pieces = []
        while (piece := await self._next_piece()) is not None:
            if piece is CUT:
                raise RuntimeError("RSGI transport is closed")  # RSGIProtocolClosed is a RuntimeError
            pieces.append(piece)
        return b"".join(pieces)

    def __aiter__(self) -> _Proto:
        return self

    async def __anext__(self) -> bytes:
        if self._state == "done":
            raise StopAsyncIteration
        if self._state == "failed":
            self._state = "done"
            return b""
        piece = await self._next_piece()
        if piece is None:
            self._state = "done"
            return b""
        if piece is CUT:
            self._state = "failed"
            return b""
        return bytes(piece)

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent = (status, headers, body)


def call(front: Any, method: str = "GET", path: str = "/", *, query: str = "",
         headers: Iterable[tuple[str, str]] = (), body: bytes | None = None,
         schedule: Schedule | None = None, ends: bool = True, timeout_s: float = 30) -> Answer:
    """One request through ``front`` (an RSGI app). ``body`` is sent at once, with its
    Content-Length unless ``headers`` frame it; ``schedule`` sends it in pieces instead."""
    pairs = list(headers)
    if body is not None:
        schedule = [(0.0, body)]
        if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in pairs):
            pairs.append(("content-length", str(len(body))))

    async def run() -> Answer:
        loop = asyncio.get_running_loop()
        front.__rsgi_init__(loop)
        proto = _Proto(schedule or [], ends)
        try:
            await asyncio.wait_for(front.__rsgi__(_Scope(method, path, query, pairs), proto), timeout_s)
        finally:
            front.__rsgi_del__(loop)
        assert proto.sent is not None, "the app sent no answer"
        status, sent_headers, sent_body = proto.sent
        return Answer(status, Headers((k.lower(), v) for k, v in sent_headers), sent_body)

    return asyncio.run(run())
