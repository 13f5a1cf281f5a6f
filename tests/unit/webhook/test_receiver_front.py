"""Bodies through the receiver's RSGI front (what granian serves), in-process against a real
Redis: in pieces, stalled, cut off or too large; the 200s counted once; the body deadline.

The fake RSGI protocol (tests/support/rsgi.py) behaves as granian's does; the real server is
in tests/integration/test_receiver_hostile_http.py and tests/reliability/test_slow_bodies.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

from tests.support import rsgi
from tests.support.rsgi import CUT, Schedule
from webhook.app import RECEIPT_PATH, receiver_core
from webhook.http.rsgi import RSGIFront
from webhook.queue import result_queue
from webhook.twilio.signature import twilio_signature
from webhook.twilio.status import TWILIO_STATUS_PATH
from worker.config import Settings

from .test_receiver_app import FORM, NOW, SECRET, SIGNED_DLR

BODY = b"messageId=0A1&status=delivered"
TIMEOUT_S = 0.3  # where a test waits for the deadline
ROOMY_TIMEOUT_S = 5.0  # where it must not pass, however slow the machine
Answer = tuple[int, dict[str, str], Any]
Drive = Callable[..., Answer]
Entries = Callable[[], list[dict[str, str]]]


def _payload(body: bytes) -> Any:
    return json.loads(body) if body.startswith(b"{") else body


@pytest.fixture
def drive(settings: Settings, redis_client: redis.Redis) -> Drive:
    """``drive(method, path, query, headers, schedule, ends=True, settings=...)`` through the
    receiver's RSGI front."""

    def run(method: str = "POST", path: str = RECEIPT_PATH, query: str = "",
            headers: list[tuple[str, str]] | None = None, schedule: Schedule | None = None, ends: bool = True,
            configured: Settings | None = None, clock: float | None = None,
            timeout_s: float = ROOMY_TIMEOUT_S) -> Answer:
        chosen = (configured or settings).replace(webhook_body_timeout_s=timeout_s)
        core = receiver_core(chosen, result_queue(chosen, redis_client),
                             **({"clock": lambda: clock} if clock is not None else {}))
        answer = rsgi.call(RSGIFront(core), method, path, query=query, headers=headers or [],
                           schedule=schedule or [], ends=ends)
        return answer.status, dict(answer.headers), _payload(answer.body)

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
    from webhook.http.deadlines import Deadlines

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
