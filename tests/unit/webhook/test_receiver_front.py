"""The async front granian serves (webhook.front behind webhook.rsgi, and behind webhook.asgi),
driven in-process against a real Redis: bodies in pieces, stalled, cut off or too large, and the
same answers as the WSGI app for the same requests (they share routes and checks).

The fake RSGI protocol behaves as granian's does (webhook/rsgi.py says how: ``await proto()``
raises when the client went away; the iterator ends with one empty piece, and a failed read
is one more); the real server is in tests/integration/test_receiver_hostile_http.py and
tests/reliability/test_slow_bodies.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

from webhook.app import RECEIPT_PATH, create_app
from webhook.asgi import ASGIReceiver
from webhook.front import AsyncReceiver
from webhook.queue import result_queue
from webhook.rsgi import RSGIReceiver
from webhook.twilio.signature import twilio_signature
from webhook.twilio.status import TWILIO_STATUS_PATH
from worker.config import Settings

from .test_receiver_app import FORM, NOW, SECRET, SIGNED_DLR, call

BODY = b"messageId=0A1&status=delivered"
TIMEOUT_S = 0.3  # where a test waits for the deadline
ROOMY_TIMEOUT_S = 5.0  # where it must not pass, however slow the machine
CUT = object()  # in a schedule: the client goes away here
Schedule = list[tuple[float, Any]]  # (delay before it, a piece of body or CUT)
Answer = tuple[int, dict[str, str], Any]


class _Headers:
    """granian's RSGIHeaders: lower-case names; a value that is not visible ASCII is there
    (``in``) but not handed over (``get`` gives None)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = [(k.lower(), v) for k, v in pairs]

    def get(self, name: str, default: Any = None) -> Any:
        return next((v for k, v in self._pairs if k == name and _visible(v)), default)

    def __contains__(self, name: str) -> bool:
        return any(k == name for k, _ in self._pairs)


def _visible(value: str) -> bool:
    return all(0x20 <= ord(ch) < 0x7F for ch in value)


class _Scope:
    proto = "http"

    def __init__(self, method: str, path: str, query: str, headers: list[tuple[str, str]]) -> None:
        self.method, self.path, self.query_string = method, path, query
        self.headers = _Headers(headers)


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


def _rsgi(front: AsyncReceiver, method: str, path: str, query: str, headers: list[tuple[str, str]],
          schedule: Schedule, ends: bool) -> Answer:
    async def run() -> Answer:
        app = RSGIReceiver(front)
        app.__rsgi_init__(asyncio.get_running_loop())
        proto = _Proto(schedule, ends)
        try:
            await asyncio.wait_for(app.__rsgi__(_Scope(method, path, query, headers), proto), 30)
        finally:
            app.__rsgi_del__(asyncio.get_running_loop())
        assert proto.sent is not None
        status, sent_headers, body = proto.sent
        return status, {k.lower(): v for k, v in sent_headers}, _payload(body)

    return asyncio.run(run())


def _asgi(front: AsyncReceiver, method: str, path: str, query: str, headers: list[tuple[str, str]],
          schedule: Schedule, ends: bool) -> Answer:
    async def run() -> Answer:
        app = ASGIReceiver(front)
        pieces = iter(schedule)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            try:
                delay, piece = next(pieces)
            except StopIteration:
                if not ends:
                    await asyncio.sleep(3600)
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(delay)
            if piece is CUT:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": piece, "more_body": True}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        scope = {"type": "http", "method": method, "path": path, "query_string": query.encode("latin-1"),
                 "headers": raw_headers}
        try:
            await asyncio.wait_for(app(scope, receive, send), 30)
        finally:
            app.close()
        start, body = sent
        decoded = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], decoded, _payload(body["body"])

    return asyncio.run(run())


Drive = Callable[..., Answer]
Entries = Callable[[], list[dict[str, str]]]


def _payload(body: bytes) -> Any:
    return json.loads(body) if body.startswith(b"{") else body


@pytest.fixture(params=["rsgi", "asgi"])
def drive(request: pytest.FixtureRequest, settings: Settings, redis_client: redis.Redis) -> Drive:
    """``drive(method, path, query, headers, schedule, ends=True, settings=...)`` through the front,
    behind the RSGI app and behind the ASGI app."""
    runner = _rsgi if request.param == "rsgi" else _asgi

    def run(method: str = "POST", path: str = RECEIPT_PATH, query: str = "",
            headers: list[tuple[str, str]] | None = None, schedule: Schedule | None = None, ends: bool = True,
            configured: Settings | None = None, clock: float | None = None,
            timeout_s: float = ROOMY_TIMEOUT_S) -> Answer:
        chosen = (configured or settings).replace(webhook_body_timeout_s=timeout_s)
        front = AsyncReceiver(chosen, result_queue(chosen, redis_client),
                              **({"clock": lambda: clock} if clock is not None else {}))
        return runner(front, method, path, query, headers or [], schedule or [], ends)

    return run


@pytest.fixture
def entries(settings: Settings, redis_client: redis.Redis) -> Callable[[], list[dict[str, str]]]:
    def read() -> list[dict[str, str]]:
        raw = redis_client.xrange(settings.key_prefix + "receipts")
        return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]

    return read


def _form(length: int | None = None) -> list[tuple[str, str]]:
    framing = ("content-length", str(length)) if length is not None else ("transfer-encoding", "chunked")
    return [("content-type", FORM), framing]


def test_body_in_pieces_reaches_the_app_whole(drive: Drive, entries: Entries) -> None:
    """A body in three pieces within the deadline is queued as one receipt, the connection kept."""
    schedule = [(0.0, BODY[:5]), (0.05, BODY[5:20]), (0.05, BODY[20:])]
    for headers in (_form(len(BODY)), _form()):
        status, sent, payload = drive(headers=headers, schedule=schedule)
        assert (status, payload) == (200, {"status": "ok"}) and "connection" not in sent
    assert [e["messageId"] for e in entries()] == ["0A1", "0A1"]


@pytest.mark.parametrize("chunked", [False, True])
def test_stalled_body_is_408_and_closes_the_connection(drive: Drive, entries: Entries,
                                                       chunked: bool) -> None:
    """Headers and part of a body, then nothing: 408 at the deadline, `Connection: close`, nothing queued."""
    headers = _form() if chunked else _form(len(BODY))
    status, sent, payload = drive(headers=headers, schedule=[(0.0, BODY[:10])], ends=False,
                                  timeout_s=TIMEOUT_S)
    assert status == 408 and sent["connection"] == "close" and "error" in payload
    assert entries() == []


@pytest.mark.parametrize("chunked", [False, True])
def test_body_cut_off_is_400_and_not_queued(drive: Drive, entries: Entries,
                                            chunked: bool) -> None:
    """A body whose client went away mid-way (granian's WSGI read it as complete) is a 400:
    no truncated `status=de` on the stream."""
    headers = _form() if chunked else _form(len(BODY))
    status, sent, payload = drive(headers=headers, schedule=[(0.0, b"messageId=0A1&status=de"), (0.0, CUT)])
    assert (status, payload) == (400, {"error": "the body was cut off before its end"})
    assert sent["connection"] == "close" and entries() == []


def test_oversized_body_is_not_buffered(drive: Drive, settings: Settings) -> None:
    """A declared length over the limit is refused from the header; nothing is read."""
    status, sent, _ = drive(headers=_form(settings.webhook_body_limit_bytes + 1), ends=False)
    assert status == 413 and sent["connection"] == "close"


def test_endless_chunked_body_stops_past_the_limit(drive: Drive, settings: Settings) -> None:
    """Without a Content-Length the pieces are read only until they pass the limit: 413."""
    piece = b"a" * 1024
    schedule = [(0.0, piece)] * (settings.webhook_body_limit_bytes // len(piece) + 2)
    status, sent, _ = drive(headers=_form(), schedule=schedule, ends=False)
    assert status == 413 and sent["connection"] == "close"


def test_body_exactly_at_the_limit_is_read(drive: Drive, settings: Settings) -> None:
    """The limit is inclusive, with or without a Content-Length."""
    small = settings.replace(webhook_body_limit_bytes=64)
    body = b"messageId=1&status=ok&pad=" + b"x" * (64 - 26)
    for headers in (_form(len(body)), _form()):
        assert drive(headers=headers, schedule=[(0.0, body)], configured=small)[0] == 200
    assert drive(headers=_form(), schedule=[(0.0, body + b"x")], configured=small)[0] == 413


def test_get_is_answered_without_reading_a_body(drive: Drive, entries: Entries) -> None:
    """A GET receipt comes from its query string; a body it announces is never waited for."""
    status, _, payload = drive("GET", query="messageId=1&status=ok", headers=_form(10), ends=False)
    assert (status, payload) == (200, {"status": "ok"}) and len(entries()) == 1


def test_a_content_type_that_is_not_ascii_is_415_not_a_form(drive: Drive) -> None:
    """granian's RSGI hides header values that are not visible ASCII: such a Content-Type is
    refused (415) as any unknown type would be, never read as a missing one (a form)."""
    headers = [("content-type", "text/\xe9"), ("content-length", str(len(BODY)))]
    assert drive(headers=headers, schedule=[(0.0, BODY)])[0] == 415


def test_health_ready_and_metrics(drive: Drive) -> None:
    """/healthz and /readyz ask Redis (off the loop), /metrics renders, 404 and 405 as the app."""
    assert drive("GET", "/healthz")[2] == {"status": "ok", "redis": True}
    assert drive("GET", "/readyz")[2] == {"service": "pinrelay-webhook", "status": "ok", "redis": True}
    assert drive("GET", "/metrics")[0] == 200
    assert drive("GET", "/nope")[0] == 404
    status, sent, _ = drive("PUT", RECEIPT_PATH)
    assert (status, sent["allow"]) == (405, "GET, POST")


def test_twilio_callback_through_the_front(drive: Drive, settings: Settings,
                                           entries: Entries) -> None:
    """A signed Twilio status callback is queued once (a repeat is a duplicate); unsigned, 403."""
    url = "https://otp.example.com/twilio/status"
    configured = settings.replace(twilio_auth_token="tok", twilio_status_url=url)
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "To": "+16365553226"}
    body = urlencode(form).encode()
    signed = [*_form(len(body)), ("x-twilio-signature", twilio_signature("tok", url, form))]
    def post(headers: list[tuple[str, str]]) -> Answer:
        return drive(path=TWILIO_STATUS_PATH, headers=headers, schedule=[(0.0, body)], configured=configured)

    answers = [post(signed)[2] for _ in range(2)]
    assert answers == [{"status": "ok"}, {"status": "duplicate"}]
    assert post(_form(len(body)))[0] == 403
    assert [e["messageId"] for e in entries()] == ["SM1"]


SAME_AS_WSGI = [
    ("GET", RECEIPT_PATH, urlencode(SIGNED_DLR), None, b""),
    ("POST", RECEIPT_PATH, "", FORM, urlencode(SIGNED_DLR).encode()),
    ("POST", RECEIPT_PATH, "", "application/json", json.dumps(SIGNED_DLR).encode()),
    ("GET", RECEIPT_PATH + "/", urlencode({**SIGNED_DLR, "status": "failed"}), None, b""),
    ("GET", RECEIPT_PATH, urlencode({k: v for k, v in SIGNED_DLR.items() if k != "sig"}), None, b""),
    ("GET", RECEIPT_PATH, "messageId=1&status=ok", None, b""),
    ("POST", RECEIPT_PATH, "", "text/plain", b"messageId=1&status=ok"),
    ("POST", RECEIPT_PATH, "", "application/json; charset=latin-1", b"{}"),
    ("POST", RECEIPT_PATH, "", "application/json", b'{"messageId": '),
    ("GET", RECEIPT_PATH, "a=%zz", None, b""),
    ("DELETE", RECEIPT_PATH, "", None, b""),
    ("POST", "/healthz", "", None, b""),
    ("GET", "/elsewhere", "", None, b""),
]


@pytest.mark.parametrize(("method", "path", "query", "content_type", "body"), SAME_AS_WSGI)
def test_the_front_answers_as_the_wsgi_app_does(
    drive: Drive, signed_settings: Settings, redis_client: redis.Redis, method: str, path: str, query: str,
    content_type: str | None, body: bytes,
) -> None:
    """Routes, checks and answers are shared: for these requests (signed, tampered, unsigned,
    malformed, wrong method or path) the front answers exactly what the WSGI app answers."""
    wsgi = call(create_app(signed_settings, redis_client, clock=lambda: NOW), method, path, query, body,
                content_type)
    redis_client.delete(*redis_client.keys(signed_settings.key_prefix + "*") or ["-"])
    headers = ([("content-type", content_type)] if content_type else []) + (
        [("content-length", str(len(body)))] if body else [])
    status, sent, payload = drive(method, path, query, headers, [(0.0, body)] if body else [],
                                  configured=signed_settings, clock=NOW)
    assert (status, payload) == (wsgi.status, wsgi.json())
    assert sent.get("allow") == wsgi.headers.get("Allow")


@pytest.fixture
def signed_settings(settings: Settings) -> Iterator[Settings]:
    yield settings.replace(signature_secret=SECRET, signature_method="sha256")


def test_every_answer_is_counted_once(drive: Drive, signed_settings: Settings) -> None:
    """`pinrelay_webhook_requests_total`: the 200s of a batch are counted by the writer, the
    rest as they are answered; each request once."""
    from prometheus_client import REGISTRY

    def counted(status: str) -> float:
        return REGISTRY.get_sample_value("pinrelay_webhook_requests_total", {"status": status}) or 0.0

    before = counted("200"), counted("401")
    for query in (urlencode(SIGNED_DLR), urlencode(SIGNED_DLR), "messageId=1&status=ok"):
        drive("GET", query=query, configured=signed_settings, clock=NOW)
    assert (counted("200") - before[0], counted("401") - before[1]) == (2, 1)


def test_a_deadline_is_told_from_any_other_cancellation() -> None:
    """webhook.deadlines: a read past its deadline is cancelled and told so (the front answers
    408); a read cancelled for another reason (the server stopping) stays cancelled."""
    from webhook.deadlines import Deadlines

    async def read(deadlines: Deadlines) -> str:
        with deadlines.reading() as reading:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if reading.expired():
                    return "deadline"
                raise
        return "unreachable"

    async def main() -> tuple[str, bool]:
        deadlines = Deadlines(asyncio.get_running_loop(), 0.1)
        timed_out = await asyncio.wait_for(read(deadlines), 30)
        stopped = asyncio.create_task(read(deadlines))
        await asyncio.sleep(0.01)
        stopped.cancel()
        try:
            await stopped
        except asyncio.CancelledError:
            return timed_out, True
        return timed_out, False

    assert asyncio.run(main()) == ("deadline", True)
