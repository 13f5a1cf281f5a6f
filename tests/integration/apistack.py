"""Helpers for the HTTP API tests: `pinrelay keys` and `pinrelay api` as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import requests

from worker.config import Settings

CLI = [sys.executable, "-m", "worker.cli"]
CALLBACK_SECRET = "cb-secret-0123456789abcdef0123456789abcdef"


def cli(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `pinrelay ARGS` with exactly these settings in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(settings.to_env())
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


def create_key(settings: Settings, name: str = "tests") -> dict[str, str]:
    """`pinrelay keys create NAME`: ``{"id", "key"}``."""
    done = cli(settings, "keys", "create", name)
    assert done.returncode == 0, done.stderr
    created: dict[str, str] = json.loads(done.stdout)
    return created


class Client:
    """A requests session against one API with one bearer key."""

    def __init__(self, base: str, key: str | None) -> None:
        self.base = base
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=10, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.session.post(self.base + path, timeout=10, **kw)

    def close(self) -> None:
        self.session.close()


def error_code(response: requests.Response) -> str:
    """The stable code of an error answer (and a check that it has the documented shape)."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    code: str = body["error"]["code"]
    return code


class CallbackReceiver:
    """A local HTTP server standing in for a producer's callback endpoint.

    It answers each POST with the next status of ``script`` (then 200) and keeps every
    request it got: headers, body and when it arrived.
    """

    def __init__(self) -> None:
        import http.server
        import threading

        self.script: list[int] = []
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.received.append({"path": self.path, "headers": dict(self.headers.items()),
                                              "body": body, "status": status, "at": time.time()})  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def for_record(self, record_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.received if json.loads(r["body"]).get("id") == record_id]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
