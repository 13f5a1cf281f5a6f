"""The 2FA route over the shared transport and real HTTP, against a throwaway local server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import parse_qs

import pytest

from tests.support.httpserver import QuietHandler, serve_http
from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import PermanentProviderError
from worker.send.routes.sc2fa import Sc2faRoute
from worker.send.transport import USER_AGENT, Transport


class Recorder(QuietHandler):
    seen: ClassVar[list[tuple[str, str, dict[str, list[str]], str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        Recorder.seen.append(("POST", self.path, parse_qs(body), self.headers["User-Agent"]))
        self.send_response(301)
        self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        Recorder.seen.append(("GET", self.path, {}, self.headers["User-Agent"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.seen = []
    with serve_http(Recorder) as url:
        yield url


def test_a_redirect_is_an_error_not_a_get_elsewhere(server: str) -> None:
    """The form goes out once with our User-Agent; a 301 is a permanent error, never followed."""
    settings = Settings.from_env({}).replace(api_url=server)
    transport = Transport(settings)
    request = SendRequest.build("16365553226", "4242", None, {"brand": "Acme"})
    with pytest.raises(PermanentProviderError) as refused:
        Sc2faRoute(settings, transport).submit(request, "login-1")
    transport.close()
    assert refused.value.http_status == 301
    assert len(Recorder.seen) == 1
    method, path, form, agent = Recorder.seen[0]
    assert (method, path, agent) == ("POST", "/sc/us/2fa/json", USER_AGENT)
    assert {k: v[0] for k, v in form.items()} == {
        "api_key": "demo-key", "api_secret": "demo-secret-0123", "to": "16365553226",
        "pin": "4242", "client-ref": "login-1", "brand": "Acme",
    }
