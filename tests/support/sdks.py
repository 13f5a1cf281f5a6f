"""The vendors' official SDKs (``twilio``, ``vonage`` v4) pointed at a simulator, and a webhook catcher.

* Twilio: ``Client.api.base_url`` is the one place twilio-python builds its REST URLs
  from (``twilio/rest/api/__init__.py``), so setting it to the simulator's URL is all it
  takes; the SDK's own ``TwilioHttpClient`` gets a short timeout.
* Vonage v4: ``HttpClientOptions(api_host=..., rest_host=...)`` names the hosts, but
  ``vonage_http_client.HttpClient.make_request`` always builds ``https://{host}{path}``.
  The simulator speaks plain HTTP, so an adapter mounted for exactly that
  ``https://host:port`` prefix sends those requests over ``http://``; every other URL keeps
  the SDK's own adapter. Nothing can reach the internet: the hosts are 127.0.0.1, and the
  timeout is short (a wrong port fails at once with a refused connection).

The requests are otherwise the SDKs' own: headers, body encoding, auth and signing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient
from vonage import Auth, HttpClientOptions, Vonage

from tests.support.commands import Command, command_env
from tests.support.httpserver import QuietHandler, serve_http
from tests.support.waiting import wait_for
from worker.local.embedded import free_port

SDK_TIMEOUT_S = 10


class PlainHTTPAdapter(HTTPAdapter):
    """Sends an ``https://`` request over ``http://`` to the same host and port."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = "http://" + str(request.url).removeprefix("https://")
        return super().send(request, *args, **kwargs)


def vonage_client(sim_url: str, **auth: Any) -> Vonage:
    """A ``vonage.Vonage`` whose API and REST hosts are the simulator at ``sim_url``."""
    host = urlsplit(sim_url).netloc
    client = Vonage(Auth(**auth), HttpClientOptions(api_host=host, rest_host=host, timeout=SDK_TIMEOUT_S))
    client.http_client._session.mount(f"https://{host}", PlainHTTPAdapter())
    return client


def twilio_client(sim_url: str, account_sid: str, auth_token: str) -> TwilioClient:
    """A ``twilio.rest.Client`` whose REST base URL is the simulator at ``sim_url``."""
    client = TwilioClient(account_sid, auth_token, http_client=TwilioHttpClient(timeout=SDK_TIMEOUT_S))
    client.api.base_url = sim_url
    return client


@dataclass(frozen=True)
class Hit:
    """One webhook request as it arrived: the raw body and the headers (names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Catcher:
    """Every request to its URL, answered 200 (or :meth:`fail_next`'s status); :meth:`hits` is what
    has arrived so far."""

    def __init__(self) -> None:
        self._hits: list[Hit] = []
        self._failures = 0
        self._lock = threading.Lock()
        self.url = ""

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` requests 503, as a receiver in an outage."""
        with self._lock:
            self._failures = count

    def hits(self, path: str | None = None) -> list[Hit]:
        with self._lock:
            return [hit for hit in self._hits if path is None or hit.path == path]

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
            self._failures = 0

    def add(self, hit: Hit) -> int:
        """Record ``hit``; the status to answer it with."""
        with self._lock:
            self._hits.append(hit)
            if self._failures:
                self._failures -= 1
                return 503
            return 200


@contextmanager
def catcher() -> Iterator[Catcher]:
    """A :class:`Catcher` serving on a free loopback port until the block ends."""
    caught = Catcher()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            self.send_response(caught.add(Hit(self.command, self.path, headers, body)))
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _record

    with serve_http(Handler) as url:
        caught.url = url
        yield caught


SIGNATURE_SECRET = "Ex4mpleSigSecret0123456789abcdef"  # 32 bytes: PyJWT's minimum for HS256
RECEIPT_PATH = "/delivery-receipt-webhook"


@dataclass(frozen=True)
class RunningSim:
    """A `pinrelay sim` subprocess: its URL, the demo private key it wrote, the command."""

    url: str
    key_file: Path
    command: Command

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """``POST /_sim/config``; fails the test on a refused knob."""
        answer = requests.post(f"{self.url}/_sim/config", json=knobs, timeout=5)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def reset(self) -> None:
        assert requests.post(f"{self.url}/_sim/reset", json={}, timeout=5).json() == {"ok": True}

    def get(self, what: str) -> Any:
        """``GET /_sim/<what>`` as JSON (``requests?route=messages``, ``receipts``, ``conversions``)."""
        return requests.get(f"{self.url}/_sim/{what}", timeout=5).json()


@contextmanager
def pinrelay_sim(
    work_dir: Path, receipts_to: str, *extra: str, started: str = "private key written"
) -> Iterator[RunningSim]:
    """`pinrelay sim` on a free port: DLRs to ``receipts_to`` + :data:`RECEIPT_PATH` (so the
    Messages webhooks go to ``receipts_to/messages-status-webhook``), signed with
    :data:`SIGNATURE_SECRET`, the demo application's private key written to a file; ready once
    its output says ``started``."""
    port, key_file = free_port(), work_dir / "application.key"
    command = Command.start(
        work_dir, "sim", command_env(), "sim", "--host", "127.0.0.1", "--port", str(port),
        "--dlr-url", f"{receipts_to}{RECEIPT_PATH}", "--dlr-delay", "0.05",
        "--signature-secret", SIGNATURE_SECRET, "--signature-method", "md5",
        "--vonage-private-key-out", str(key_file), *extra,
    )
    try:
        wait_for(lambda: started in command.stdout() or not command.alive, 30,
                 "pinrelay sim to start")
        assert command.alive, command.stderr()
        yield RunningSim(f"http://127.0.0.1:{port}", key_file, command)
    finally:
        assert command.stop() == 0, command.stderr()
