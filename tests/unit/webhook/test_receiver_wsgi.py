"""The WSGI adapter (webhook.http.wsgi), for anyone who mounts the receiver under their own WSGI
server: the same app on the same core, driven under wsgiref's validator against a real Redis."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from wsgiref.types import WSGIApplication
from wsgiref.validate import validator

import pytest
import redis

from tests.support.rsgi import Answer, Headers
from webhook.app import RECEIPT_PATH, create_app
from webhook.http.wsgi import run_to_end
from worker.config import Settings

from .test_receiver_app import FORM, NOW, SIGNED_DLR


class EndlessInput:
    """A chunked body that never ends; counts what was read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        assert size >= 0, "the receiver must never read without a bound"
        self.read_bytes += size
        return b"a" * size

    def readline(self, size: int = -1) -> bytes:
        raise AssertionError("readline is not used")

    def readlines(self, hint: int = -1) -> list[bytes]:
        raise AssertionError("readlines is not used")

    def __iter__(self) -> Iterator[bytes]:
        raise AssertionError("iteration is not used")


class UntouchableInput(EndlessInput):
    """A body the receiver must not read at all."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")


def call(app: WSGIApplication, method: str = "GET", path: str = RECEIPT_PATH, query: str = "",
         body: bytes = b"", content_type: str | None = None, *, stream: Any = None,
         content_length: str | None = None, validate: bool = True) -> Answer:
    """One request through ``app``; CONTENT_LENGTH is len(body) unless given or a stream is."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "test", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": stream if stream is not None else io.BytesIO(body),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    elif stream is None and body:
        environ["CONTENT_LENGTH"] = str(len(body))
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    result = (validator(app) if validate else app)(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    headers = Headers((k.lower(), v) for k, v in seen["headers"])
    return Answer(int(seen["status"].split()[0]), headers, payload)


@pytest.fixture
def app(settings: Settings, redis_client: redis.Redis) -> WSGIApplication:
    return create_app(settings, redis_client, clock=lambda: NOW)


def test_receipts_are_queued_and_answered(app: WSGIApplication, settings: Settings,
                                          redis_client: redis.Redis) -> None:
    """A GET and a form POST are on the stream before their 200; a replay of an unsigned receipt
    is queued again (duplicates are the correlator's job)."""
    answers = [call(app, query="messageId=1&status=delivered").json(),
               call(app, "POST", body=urlencode(SIGNED_DLR).encode(), content_type=FORM).json()]
    assert answers == [{"status": "ok"}, {"status": "ok"}]
    assert redis_client.xlen(settings.key_prefix + "receipts") == 2


def test_routes_and_refusals(app: WSGIApplication) -> None:
    """404, 405 with Allow, 415, /healthz and /readyz: what the RSGI front answers."""
    assert call(app, path="/elsewhere").status == 404
    wrong = call(app, "PUT")
    assert (wrong.status, wrong.headers["Allow"]) == (405, "GET, POST")
    assert call(app, "POST", body=b"messageId=1&status=ok", content_type="text/plain").status == 415
    assert call(app, path="/healthz").json() == {"status": "ok", "redis": True}
    assert call(app, path="/readyz").json()["service"] == "pinrelay-webhook"


def test_bodies_are_bounded_and_checked(app: WSGIApplication, settings: Settings) -> None:
    """A Content-Length that is not a number or longer than the body is a 400; one over the
    limit is a 413 before anything is read; without one the body is read to limit+1 bytes, then
    413; a GET's body is never read."""
    bad = call(app, "POST", body=b"x", content_type=FORM, content_length="12x", validate=False)
    assert (bad.status, bad.json()) == (400, {"error": "bad Content-Length"})
    short = call(app, "POST", body=b"messageId=1&status=ok", content_type=FORM, content_length="500")
    assert (short.status, short.json()) == (400, {"error": "the body was cut off before its end"})
    too_big = str(settings.webhook_body_limit_bytes + 1)
    untouched = call(app, "POST", content_type=FORM, stream=UntouchableInput(), content_length=too_big)
    assert untouched.status == 413
    endless = EndlessInput()
    assert call(app, "POST", content_type=FORM, stream=endless).status == 413
    assert endless.read_bytes == settings.webhook_body_limit_bytes + 1
    get = call(app, query="messageId=1&status=ok", stream=UntouchableInput(), content_length="10")
    assert get.status == 200


def test_a_coroutine_that_waits_is_a_bug_not_a_hang() -> None:
    """Under WSGI there is no event loop: a handler that awaited one fails at once."""

    async def waits() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="event loop"):
        run_to_end(waits())
