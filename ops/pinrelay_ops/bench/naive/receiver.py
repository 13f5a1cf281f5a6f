"""The naive receipt baseline: a bare WSGI app doing one ``LPUSH`` of the raw receipt.

No parsing, no signature check, no validation, no logging: the floor any
receipt receiver stands on. Served by gunicorn (sync workers, the issue's
baseline) and by granian (to separate the server's share from the app's):
``gunicorn 'pinrelay_ops.bench.naive.receiver:app_factory()'`` /
``granian --interface wsgi --factory pinrelay_ops.bench.naive.receiver:app_factory``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import redis

from worker.config import Settings
from worker.redisconn import redis_client

LIST_KEY: Final = "naive-receipts"  # behind the key prefix
OK_BODY: Final = b'{"status":"ok"}'
OK_HEADERS: Final = [("Content-Type", "application/json"), ("Content-Length", str(len(OK_BODY)))]


def list_key(settings: Settings) -> str:
    return settings.key_prefix + LIST_KEY


def create_app(client: redis.Redis, key: str) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            payload = environ["wsgi.input"].read(length)
        else:
            payload = environ.get("QUERY_STRING", "").encode("latin-1")
        client.lpush(key, payload)
        start_response("200 OK", list(OK_HEADERS))
        return [OK_BODY]

    return app


def app_factory() -> WSGIApplication:
    settings = Settings.from_env()
    return create_app(redis_client(settings.redis_url or ""), list_key(settings))
