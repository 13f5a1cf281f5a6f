"""The receiver's paths and its answers, worded once.

Every answer is JSON (:func:`webhook.http.answers.json_answer`): ``{"status": ...}`` when a
receipt was taken, ``{"error": "<reason>"}`` when not. The 404, the 405 (with ``Allow``) and
the 500 are the receiver's wording of what the HTTP core decides (:mod:`webhook.app`).
"""

from __future__ import annotations

from typing import Final

from webhook.http.answers import Answer, json_answer

from . import metrics

RECEIPT_PATH: Final = "/delivery-receipt-webhook"
HEALTH_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"
METRICS_PATH: Final = "/metrics"
SERVICE_NAME: Final = "pinrelay-webhook"  # in /readyz: the answer is ours, not another server's
COUNTED_STATUSES: Final = (200, 400, 401, 403, 404, 405, 408, 413, 415, 500, 503)


def error(status: int, reason: str) -> Answer:
    return json_answer(status, {"error": reason})


def not_allowed(allow: str) -> Answer:
    return json_answer(405, {"error": "method not allowed"}, [("Allow", allow)])


OK: Final = json_answer(200, {"status": "ok"})
DUPLICATE: Final = json_answer(200, {"status": "duplicate"})
LATE: Final = json_answer(200, {"status": "late"})  # held as a dead letter (webhook.intake)
NOT_FOUND: Final = error(404, "not found")
QUEUE_UNAVAILABLE: Final = error(503, "result queue unavailable, retry later")
INTERNAL_ERROR: Final = error(500, "internal error")


def health(redis_ok: bool) -> Answer:
    return json_answer(200, {"status": "ok", "redis": redis_ok})


def ready(redis_ok: bool) -> Answer:
    """Ready means Redis answers; ``service`` lets a supervisor tell us from whatever else
    might answer on the port."""
    if redis_ok:
        return json_answer(200, {"service": SERVICE_NAME, "status": "ok", "redis": True})
    return json_answer(503, {"service": SERVICE_NAME, "status": "unavailable", "redis": False})


class StatusCounters:
    """``pinrelay_webhook_requests_total`` by status, its children looked up once."""

    def __init__(self) -> None:
        self._counters = {code: metrics.REQUESTS.labels(status=str(code)) for code in COUNTED_STATUSES}

    def count(self, status: int, times: int = 1) -> None:
        counter = self._counters.get(status)
        if counter is not None:
            counter.inc(times)
