"""The receiver's route table and canned answers, shared by its WSGI app and its async front.

Transport-neutral: a route is a name (:data:`RECEIPT`, :data:`TWILIO`, ...) that each server
interface maps to its own handler, and an answer is ``(status code, headers, body)``, which
the WSGI app turns into a status line and the async front hands to the server as is. So the
paths, the trailing-slash rule, the 404 and the 405 with ``Allow`` are decided in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Final

from . import metrics
from .twilio.status import TWILIO_STATUS_PATH

RECEIPT_PATH: Final = "/delivery-receipt-webhook"
HEALTH_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"
METRICS_PATH: Final = "/metrics"
SERVICE_NAME: Final = "pinrelay-webhook"  # in /readyz: the answer is ours, not another server's

RECEIPT: Final = "receipt"
TWILIO: Final = "twilio"
HEALTH: Final = "health"
READY: Final = "ready"
METRICS: Final = "metrics"

Headers = list[tuple[str, str]]
Response = tuple[int, Headers, bytes]
COUNTED_STATUSES: Final = (200, 400, 401, 403, 404, 405, 408, 413, 415, 500, 503)
STATUS_LINES: Final = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def response(status: int, payload: object, extra: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON answer with its Content-Type and Content-Length."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers.extend(extra)
    return status, headers, body


def error(status: int, reason: str) -> Response:
    return response(status, {"error": reason})


OK: Final = response(200, {"status": "ok"})
DUPLICATE: Final = response(200, {"status": "duplicate"})
NOT_FOUND: Final = error(404, "not found")
QUEUE_UNAVAILABLE: Final = error(503, "result queue unavailable, retry later")
INTERNAL_ERROR: Final = error(500, "internal error")


def health(redis_ok: bool) -> Response:
    return response(200, {"status": "ok", "redis": redis_ok})


def ready(redis_ok: bool) -> Response:
    """Ready means Redis answers; ``service`` lets a supervisor tell us from whatever else
    might answer on the port."""
    if redis_ok:
        return response(200, {"service": SERVICE_NAME, "status": "ok", "redis": True})
    return response(503, {"service": SERVICE_NAME, "status": "unavailable", "redis": False})


def metrics_page() -> Response:
    content_type, body = metrics.render()
    return 200, [("Content-Type", content_type), ("Content-Length", str(len(body)))], body


class Routes:
    """Which route a (path, method) is, or the 404/405 answer when it is none."""

    def __init__(self, *, metrics_on: bool) -> None:
        self._routes: dict[str, dict[str, str]] = {
            RECEIPT_PATH: {"GET": RECEIPT, "POST": RECEIPT},
            TWILIO_STATUS_PATH: {"POST": TWILIO},
            HEALTH_PATH: {"GET": HEALTH},
            READY_PATH: {"GET": READY},
        }
        if metrics_on:  # else off, or on a port of its own (webhook.serve)
            self._routes[METRICS_PATH] = {"GET": METRICS}
        self._not_allowed = {
            path: response(405, {"error": "method not allowed"}, [("Allow", ", ".join(methods))])
            for path, methods in self._routes.items()
        }

    def resolve(self, path: str, method: str) -> str | Response:
        """The route's name; or the answer itself (404, or 405 with ``Allow``)."""
        methods = self._routes.get(path)
        if methods is None and len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
            methods = self._routes.get(path)
        if methods is None:
            return NOT_FOUND
        route = methods.get(method)
        if route is None:
            return self._not_allowed[path]
        return route


class StatusCounters:
    """``pinrelay_webhook_requests_total`` by status, its children looked up once."""

    def __init__(self) -> None:
        self._counters = {code: metrics.REQUESTS.labels(status=str(code)) for code in COUNTED_STATUSES}

    def count(self, status: int, times: int = 1) -> None:
        counter = self._counters.get(status)
        if counter is not None:
            counter.inc(times)
