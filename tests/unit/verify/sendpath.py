"""A send path for the verify unit tests: the real :class:`Producer` underneath, conversions recorded.

A test may hook into a send before or after the producer took it, refuse it, or fail a
conversion report, to put a race or a failure exactly where it wants it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from worker.enqueue.producer import Producer

SECRET = "s" * 40


class RecordingSendPath:
    """The real producer for sends and reads; conversions recorded; optionally refuses sends."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.conversions: list[tuple[str, bool, float | None]] = []
        self.refuse: Exception | None = None
        self.codes: list[str] = []
        # called with the send's idempotency key before the producer sees it, and with the
        # key and the request id after the producer stored it (before send_pin returns)
        self.before: Callable[[str], None] | None = None
        self.after: Callable[[str, str], None] | None = None
        # called with the request id before a conversion is recorded; may raise
        self.on_report: Callable[[str], None] | None = None

    def send_pin(self, to: str, pin: str, client_ref: str | None = None, *,
                 params: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                 expires_in: float | None = None, origin: str | None = None,
                 expect_conversion: bool = False) -> str:
        if self.refuse is not None:
            raise self.refuse
        if self.before is not None:
            self.before(idempotency_key or "")
        self.codes.append(pin)
        request_id = self.producer.send_pin(to, pin, client_ref, params=params,
                                            idempotency_key=idempotency_key,
                                            expires_in=expires_in)
        if self.after is not None:
            self.after(idempotency_key or "", request_id)
        return request_id

    def report_conversion(self, request_id: str, delivered: bool = True, at: float | None = None) -> None:
        if self.on_report is not None:
            self.on_report(request_id)
        self.conversions.append((request_id, delivered, at))

    def get_status(self, request_id: str) -> dict[str, Any]:
        return self.producer.get_status(request_id)
