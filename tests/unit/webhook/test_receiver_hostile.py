"""The receiver against hostile requests, in-process (issue 10: nonce spellings, `/metrics`,
a backlog nobody drains, and the body-deadline front that granian serves)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

from webhook.app import RECEIPT_PATH, create_app
from webhook.bridge import BodyDeadlineBridge
from webhook.signatures import sign
from worker.config import Settings

from .test_receiver_app import FORM, NOW, SECRET, SIGNED_DLR, call


@pytest.fixture
def signed_settings(settings: Settings) -> Settings:
    return replace(settings, signature_secret=SECRET, signature_method="sha256")


def _entries(client: redis.Redis, settings: Settings) -> int:
    return int(client.xlen(settings.key_prefix + "receipts"))


@pytest.mark.parametrize("spelling", ["ab&cd", "ab=cd"])
def test_nonce_respelled_with_the_signing_strings_stand_in_is_a_replay(
    signed_settings: Settings, redis_client: redis.Redis, spelling: str
) -> None:
    """The signing string turns `&` and `=` in values into `_`: a receipt whose nonce is
    `ab_cd` keeps its signature with `ab&cd`, and is still answered as a duplicate."""
    app = create_app(signed_settings, redis_client, clock=lambda: NOW)
    fields = {k: v for k, v in SIGNED_DLR.items() if k != "sig"} | {"nonce": "ab_cd"}
    signed = {**fields, "sig": sign(fields, SECRET, "sha256")}
    first = call(app, "POST", body=urlencode(signed).encode(), content_type=FORM)
    swapped = {**signed, "nonce": spelling}
    second = call(app, "POST", body=urlencode(swapped).encode(), content_type=FORM)
    assert (first.json(), second.json()) == ({"status": "ok"}, {"status": "duplicate"})
    assert _entries(redis_client, signed_settings) == 1


@pytest.mark.parametrize(("value", "served"), [("on", True), ("off", False), ("9464", False)])
def test_metrics_on_the_receipt_port_can_be_switched_off(
    settings: Settings, redis_client: redis.Redis, value: str, served: bool
) -> None:
    """PINRELAY_WEBHOOK_METRICS=off (or a port of its own) takes /metrics off the public port."""
    env = {**settings.to_env(), "PINRELAY_WEBHOOK_METRICS": value}
    app = create_app(Settings.from_env(env), redis_client)
    answer = call(app, path="/metrics")
    assert answer.status == (200 if served else 404)


def test_backlog_over_the_bound_is_503(settings: Settings, redis_client: redis.Redis) -> None:
    """With no correlator draining the stream, the receiver stops at the bound and answers 503
    (the provider retries later) instead of filling Redis."""
    app = create_app(replace(settings, webhook_backlog_max=5), redis_client)
    answers = [call(app, query=f"messageId=Q{i}&status=delivered").status for i in range(8)]
    assert answers == [200] * 5 + [503] * 3
    assert _entries(redis_client, settings) == 5


class _Client:
    """Drives the ASGI front as granian would: one request, body chunks on a schedule."""

    def __init__(self, chunks: list[tuple[float, dict[str, Any]]]) -> None:
        self._chunks = iter(chunks)
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        try:
            delay, message = next(self._chunks)
        except StopIteration:
            await asyncio.sleep(3600)  # a client that never sends the rest
            raise AssertionError("unreachable") from None
        await asyncio.sleep(delay)
        return message

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def answer(self) -> tuple[int, dict[bytes, bytes], Any]:
        start, body = self.sent
        return start["status"], dict(start["headers"]), json.loads(body["body"])


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": RECEIPT_PATH, "query_string": b"",
            "headers": [(b"content-type", FORM.encode()), *headers], "http_version": "1.1",
            "scheme": "http", "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 5555)}  # fmt: skip


@pytest.fixture
def bridge(settings: Settings, redis_client: redis.Redis) -> Iterator[BodyDeadlineBridge]:
    app = create_app(settings, redis_client)
    made = BodyDeadlineBridge(app, body_limit=settings.webhook_body_limit_bytes, body_timeout_s=0.3,
                              threads=4)  # fmt: skip
    yield made
    made.close()


def _run(bridge: BodyDeadlineBridge, headers: list[tuple[bytes, bytes]],
         chunks: list[tuple[float, dict[str, Any]]]) -> tuple[int, dict[bytes, bytes], Any]:  # fmt: skip
    client = _Client(chunks)
    asyncio.run(asyncio.wait_for(bridge(_scope(headers), client.receive, client.send), 5))
    return client.answer()


BODY = b"messageId=0A1&status=delivered"


def test_body_in_pieces_reaches_the_app_whole(bridge: BodyDeadlineBridge, redis_client: redis.Redis,
                                              settings: Settings) -> None:  # fmt: skip
    """A body in three chunks within the deadline is queued as one receipt."""
    chunks = [(0.0, {"type": "http.request", "body": BODY[:5], "more_body": True}),
              (0.05, {"type": "http.request", "body": BODY[5:20], "more_body": True}),
              (0.05, {"type": "http.request", "body": BODY[20:], "more_body": False})]  # fmt: skip
    status, headers, payload = _run(bridge, [(b"content-length", str(len(BODY)).encode())], chunks)
    assert (status, payload) == (200, {"status": "ok"}) and b"connection" not in headers
    assert _entries(redis_client, settings) == 1


def test_stalled_body_is_408_and_closes_the_connection(bridge: BodyDeadlineBridge, redis_client: redis.Redis,
                                                       settings: Settings) -> None:  # fmt: skip
    """Headers and half a body, then nothing: 408 at the deadline, `Connection: close`, nothing queued."""
    chunks = [(0.0, {"type": "http.request", "body": BODY[:10], "more_body": True})]
    status, headers, payload = _run(bridge, [(b"content-length", str(len(BODY)).encode())], chunks)
    assert status == 408 and headers[b"connection"] == b"close" and "error" in payload
    assert _entries(redis_client, settings) == 0


def test_body_cut_off_is_400_and_not_queued(bridge: BodyDeadlineBridge, redis_client: redis.Redis,
                                            settings: Settings) -> None:  # fmt: skip
    """A chunked body whose client went away mid-way (granian's WSGI read it as complete) is a 400."""
    chunks = [(0.0, {"type": "http.request", "body": b"messageId=0A1&status=de", "more_body": True}),
              (0.0, {"type": "http.disconnect"})]  # fmt: skip
    status, _, payload = _run(bridge, [(b"transfer-encoding", b"chunked")], chunks)
    assert (status, payload) == (400, {"error": "the body was cut off before its end"})
    assert _entries(redis_client, settings) == 0


def test_oversized_body_is_not_buffered(bridge: BodyDeadlineBridge, settings: Settings) -> None:
    """A declared length over the limit is refused from the header; nothing is read."""
    declared = str(settings.webhook_body_limit_bytes + 1).encode()
    status, headers, _ = _run(bridge, [(b"content-length", declared)], [])
    assert status == 413 and headers[b"connection"] == b"close"
