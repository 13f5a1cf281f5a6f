"""A server counts as started only when it answers as itself, not when anything answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.httpserver import QuietHandler, serve_http
from webhook.app import SERVICE_NAME
from worker.errors import ConfigError
from worker.local.supervisor import answers_as_receiver, wait_http


def _answering(body: dict[str, object]) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def foreign() -> Iterator[str]:
    with serve_http(_answering({"status": "ok"})) as url:
        yield url


@pytest.fixture
def ours() -> Iterator[str]:
    with serve_http(_answering({"service": SERVICE_NAME, "status": "ok", "redis": True})) as url:
        yield url


def test_another_server_answering_200_is_not_taken_for_the_receiver(foreign: str) -> None:
    """A 200 from some other server on /readyz does not pass the receiver's readiness check."""
    with pytest.raises(ConfigError, match="did not answer"):
        wait_http(f"{foreign}/readyz", "receipt receiver", timeout_s=0.5, expect=answers_as_receiver)


def test_the_receivers_own_answer_passes(ours: str) -> None:
    """The receiver's /readyz body (service pinrelay-webhook) passes at once."""
    wait_http(f"{ours}/readyz", "receipt receiver", timeout_s=5, expect=answers_as_receiver)
