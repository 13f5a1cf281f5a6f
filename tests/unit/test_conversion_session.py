"""The conversion client follows the 2FA client's session rules (issue 10, finding 9).

It posts ``api_secret``, so it must never re-post it somewhere else: a 307 is a permanent
error, not a redirect to follow; proxy variables and ``~/.netrc`` are not read. Real HTTP
servers on loopback stand in for the provider, the redirect target and a proxy; the record is
in a real Redis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog

from worker.config import Settings
from worker.records.store import RecordStore, new_request_id
from worker.send.conversions import report
from worker.states import State


@dataclass
class Endpoint:
    """A loopback HTTP server that records every request and answers ``status`` (+ ``location``)."""

    status: int = 200
    location: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Endpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                endpoint.seen.append({"path": self.path, "headers": dict(self.headers),
                                      "body": self.rfile.read(length).decode()})
                self.send_response(endpoint.status)
                if endpoint.location:
                    self.send_header("Location", endpoint.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def endpoints() -> Iterator[list[Endpoint]]:
    made: list[Endpoint] = []
    yield made
    for endpoint in made:
        endpoint.stop()


def _services(settings: Settings, client: redis.Redis, conversion_url: str) -> tuple[Any, str]:
    store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
    rid = new_request_id()
    argv = store.new_record(rid, to="16365553226", pin="1234", client_ref=None, params=None,
                            expires_at=time.time() + 300)
    store.create(rid, None, argv)
    store.finish(rid, State.SUBMITTED, message_id="0C000000217B7F02",
                 fields={"message_id": "0C000000217B7F02"})
    configured = settings.replace(conversion_url=conversion_url, api_secret="top-secret-0123")

    @dataclass
    class Services:
        settings: Settings
        store: RecordStore
        log: Any

    return Services(configured, store, structlog.get_logger("test")), rid


def test_a_307_is_not_followed_and_the_secret_goes_nowhere_else(
    settings: Settings, redis_client: redis.Redis, endpoints: list[Endpoint]
) -> None:
    elsewhere = Endpoint().start()
    moved = Endpoint(status=307, location=f"{elsewhere.url}/steal").start()
    endpoints += [elsewhere, moved]
    services, rid = _services(settings, redis_client, moved.url)
    outcome = report(services, rid)
    assert outcome.startswith("failed: HTTP 307"), outcome
    assert "redirect" in outcome
    assert len(moved.seen) == 1  # permanent: not retried either
    assert elsewhere.seen == []
    assert services.store.get_raw(rid)["conversion_status"] == outcome


def test_proxy_variables_and_netrc_are_not_read(
    settings: Settings, redis_client: redis.Redis, endpoints: list[Endpoint],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    provider, proxy = Endpoint().start(), Endpoint().start()
    endpoints += [provider, proxy]
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    services, rid = _services(settings, redis_client, provider.url)
    assert report(services, rid) == "reported"
    assert proxy.seen == []
    assert len(provider.seen) == 1
    assert "Authorization" not in provider.seen[0]["headers"]
    assert "api_secret=top-secret-0123" in provider.seen[0]["body"]
