"""The HTTP producer API as a plain WSGI callable, and its route table.

==========================================  =========================================
request (``Authorization: Bearer KEY``)     answer
==========================================  =========================================
POST /v1/pins                               202 ``{"id"}``; ``Idempotency-Key`` repeats
                                            answer the first id, nothing sent again
GET  /v1/pins/{id}                          200 the record (``pinrelay status``); 404
POST /v1/verifications                      202 ``{"id"}``
POST /v1/verifications/{id}/check           200 ``{"id", "status", "attempts_left"}``
POST /v1/verifications/{id}/resend          202 ``{"id"}``
GET  /v1/verifications/{id}                 200 the verification; 404
------------------------------------------  -----------------------------------------
GET  /openapi.json (no key)                 the OpenAPI 3.1 document
GET  /healthz, /readyz (no key)             200 ``{"status", "redis"}``; readyz 503
GET  /metrics (no key)                      Prometheus exposition text
==========================================  =========================================

Every error is ``{"error": {"code", "message"}}`` (:mod:`worker.api.errors`): 401 with
``WWW-Authenticate: Bearer``, 404 for an unknown path, 405 with ``Allow``, 429 with
``Retry-After``, 503 while Redis is down, and 500 ``internal_error`` for anything
unexpected (logged with its traceback, which never reaches the answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from wsgiref.types import StartResponse, WSGIEnvironment

import redis

from worker.api import metrics, openapi
from worker.api.errors import FIELD_CODES, ApiError, RateLimited, Unauthorized
from worker.api.http import Request, Response, error_response, response
from worker.api.keys import ApiKeys
from worker.config import Settings
from worker.errors import (
    AbuseLimitError,
    ConfigError,
    StoreUnavailableError,
    UnknownRequestError,
    ValidationError,
)
from worker.logs import get_logger

Handler = Callable[[Request], Response]
_ID: Final = r"(?P<id>[A-Za-z0-9_-]{1,64})"
BEARER: Final = 'Bearer realm="pinrelay"'
# Retry-After for each abuse limit: when the window that refused it has surely moved on.
LIMIT_RETRY_S: Final = {"prefix_minute": 60, "number_10min": 600, "number_day": 86400, "denylist": 86400}
INTERNAL: Final = error_response(500, "internal_error", "internal error")
UNAVAILABLE_RETRY_S: Final = 1


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # the path template, as /openapi.json and the metrics label spell it
    pattern: re.Pattern[str]
    methods: dict[str, tuple[Handler, bool]]  # method -> (handler, needs a key)


class ApiApp:
    """The WSGI callable; build it with :func:`worker.api.wsgi.build_app`."""

    def __init__(self, settings: Settings, client: redis.Redis, keys: ApiKeys,
                 handlers: Mapping[str, Handler]) -> None:
        self._settings = settings
        self._client = client
        self._keys = keys
        self._log = get_logger("pinrelay.api")
        h = {**handlers, "openapi": self._openapi, "healthz": self._healthz, "readyz": self._readyz,
             "metrics": self._metrics}
        table = [
            ("/v1/pins", {"POST": ("pins.create", True)}),
            (f"/v1/pins/{_ID}", {"GET": ("pins.read", True)}),
            ("/v1/verifications", {"POST": ("verifications.start", True)}),
            (f"/v1/verifications/{_ID}", {"GET": ("verifications.read", True)}),
            (f"/v1/verifications/{_ID}/check", {"POST": ("verifications.check", True)}),
            (f"/v1/verifications/{_ID}/resend", {"POST": ("verifications.resend", True)}),
            ("/openapi.json", {"GET": ("openapi", False)}),
            ("/healthz", {"GET": ("healthz", False)}),
            ("/readyz", {"GET": ("readyz", False)}),
            ("/metrics", {"GET": ("metrics", False)}),
        ]
        self._routes = [
            Route(path.replace(_ID, "{id}"), re.compile(path),
                  {method: (h[name], auth) for method, (name, auth) in methods.items()})
            for path, methods in table
        ]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        route_name = "unmatched"
        try:
            route_name, (status, headers, body) = self._dispatch(environ)
        except Exception:
            self._log.exception("api_internal_error", path=environ.get("PATH_INFO"),
                                method=environ.get("REQUEST_METHOD"))
            status, headers, body = INTERNAL
        metrics.REQUESTS.labels(route=route_name, status=status[:3]).inc()
        start_response(status, list(headers))
        return [body]

    def _dispatch(self, environ: WSGIEnvironment) -> tuple[str, Response]:
        path = environ.get("PATH_INFO") or "/"
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is not None:
                break
        else:
            return "unmatched", error_response(404, "not_found", "no such path")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in route.methods:
            allow = ", ".join(route.methods)
            return route.name, error_response(405, "method_not_allowed", f"use {allow}", [("Allow", allow)])
        handler, needs_key = route.methods[method]
        request = Request(environ, self._settings.api_body_limit_bytes, found.groupdict())
        return f"{method} {route.name}", self._run(request, handler, needs_key)

    def _run(self, request: Request, handler: Handler, needs_key: bool) -> Response:
        """The handler's answer, with every expected refusal turned into its error answer."""
        try:
            if needs_key:
                self._authenticate(request)
            return handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.headers)
        except AbuseLimitError as exc:
            retry = LIMIT_RETRY_S.get(exc.limit, 3600)
            return error_response(429, "limit_exceeded", str(exc), [("Retry-After", str(retry))])
        except ValidationError as exc:
            return error_response(422, FIELD_CODES.get(exc.field, "invalid_request"), str(exc))
        except UnknownRequestError:
            return error_response(404, "not_found", "no such id (never created, or expired)")
        except ConfigError as exc:  # e.g. no PINRELAY_VERIFY_SECRET: the message names the variable
            self._log.error("api_not_configured", error=str(exc))
            return error_response(503, "unavailable", f"not configured: {exc}",
                                  [("Retry-After", str(UNAVAILABLE_RETRY_S))])
        except (StoreUnavailableError, redis.RedisError) as exc:
            self._log.warning("api_store_unavailable", error=f"{type(exc).__name__}: {exc}")
            return error_response(503, "unavailable", "the store is unavailable; retry later",
                                  [("Retry-After", str(UNAVAILABLE_RETRY_S))])

    def _authenticate(self, request: Request) -> None:
        header = (request.header("Authorization") or "").strip()
        if not header:
            raise Unauthorized("send Authorization: Bearer <key>", headers=(("WWW-Authenticate", BEARER),))
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 256 or not token.isascii():
            challenge = f'{BEARER}, error="invalid_request"'
            raise Unauthorized("send Authorization: Bearer <key>", headers=(("WWW-Authenticate", challenge),))
        verdict = self._keys.authenticate(token)
        if verdict.status == "limited":
            retry = str(max(1, int(verdict.retry_after_s)))
            raise RateLimited(f"over {self._settings.api_rate_per_key:g} requests/s for this key",
                              headers=(("Retry-After", retry),))
        if verdict.status != "ok":
            message = "this API key was revoked" if verdict.status == "revoked" else "unknown API key"
            raise Unauthorized(message, headers=(("WWW-Authenticate", f'{BEARER}, error="invalid_token"'),))
        request.key_id = verdict.key_id

    def _openapi(self, request: Request) -> Response:
        body = openapi.document_bytes()
        return "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body

    def _ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def _healthz(self, request: Request) -> Response:
        return response(200, {"status": "ok", "redis": self._ping()})

    def _readyz(self, request: Request) -> Response:
        if self._ping():
            return response(200, {"status": "ok", "redis": True})
        return response(503, {"status": "unavailable", "redis": False})

    def _metrics(self, request: Request) -> Response:
        content_type, body = metrics.render()
        return "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))], body
