"""The HTTP API as its tests drive it: `pinrelay keys` as a real subprocess, a bearer-key
client, the error shape, and a local endpoint that receives outcome callbacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import requests

from tests.support.httpserver import QuietHandler, serve_http
from worker.config import Settings

CLI = [sys.executable, "-m", "worker.cli"]
CALLBACK_SECRET = "cb-secret-0123456789abcdef0123456789abcdef"
VERIFY_SECRET = "verify-secret-0123456789abcdef0123456789"


def cli(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `pinrelay ARGS` with exactly these settings in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(settings.to_env())
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def create_key(settings: Settings, name: str = "tests", *options: str) -> dict[str, str]:
    """`pinrelay keys create NAME [OPTIONS]` (e.g. ``--admin``): ``{"id", "key"}``."""
    done = cli(settings, "keys", "create", name, *options)
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
    """A local HTTP server standing in for a producer's callback endpoint (use it as a context
    manager). It answers each POST with the next status of ``script`` (then 200) and keeps
    every request it got: path, headers, body, the status it gave, when it arrived."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.received: list[dict[str, Any]] = []
        self.url = ""
        self._lock = threading.Lock()
        self._serving: Any = None

    def __enter__(self) -> CallbackReceiver:
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.received.append({"path": self.path, "headers": dict(self.headers.items()),
                                              "body": body, "status": status, "at": time.time()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._serving = serve_http(Handler)
        self.url = self._serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)

    def for_record(self, record_id: str) -> list[dict[str, Any]]:
        """The POSTs whose body is the record (or verification) ``record_id``, in order."""
        with self._lock:
            return [r for r in self.received if json.loads(r["body"]).get("id") == record_id]
