"""One delivery receipt from request pieces to stream entry, and back to an answer.

What the receiver (:mod:`webhook.app`) does between reading a request and answering it:
parse and validate (:mod:`webhook.receipts`), check the signature (its key work cached,
:func:`worker.signing.signer`), build the stream fields and replay keys, and after the push
pick the answer and log it. The push itself is the receiver's writer's
(:mod:`webhook.writer`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from worker.config import Settings
from worker.logs import get_logger

from .answers import DUPLICATE, OK, QUEUE_UNAVAILABLE, error
from .http.answers import Answer
from .http.errors import HttpError
from .queue import Entry, ResultQueue
from .receipts import Receipt, check_signature, parse_params


@dataclass(frozen=True, slots=True)
class Accepted:
    """A receipt that passed every check: its stream entry, and what the log lines name."""

    entry: Entry
    message_id: str
    status: str


class ReceiptIntake:
    """Validates receipts against the receiver's settings; pure apart from its clock and logs."""

    def __init__(self, settings: Settings, queue: ResultQueue,
                 clock: Callable[[], float] = time.time) -> None:
        self._queue = queue
        self._clock = clock
        self._secret = settings.signature_secret
        self._method = settings.signature_method
        self._window = settings.signature_window_s
        self._log = get_logger("webhook.receiver")

    def accept(self, query_string: str, body: bytes, content_type: str | None) -> Accepted:
        """The receipt of these request pieces; a :class:`~webhook.errors.ReceiptError` (4xx)
        when it is refused.

        ``query_string`` is as WSGI has it (bytes as latin-1); ``body`` is the whole body."""
        params = parse_params(query_string, body, content_type)
        now = self._clock()
        if self._secret is not None:
            check_signature(params, secret=self._secret, method=self._method, window_s=self._window, now=now)
        receipt = Receipt(params)
        keys = receipt.replay_keys if self._secret is not None else []
        entry = self._queue.entry(receipt.stream_fields(now), keys)
        return Accepted(entry, receipt.message_id, receipt.status)

    def rejected(self, exc: HttpError) -> Answer:
        """The 4xx answer for a refused receipt, logged (reason only: never a value)."""
        self._log.info("receipt_rejected", http_status=exc.http_status, reason=exc.reason)
        return error(exc.http_status, exc.reason)

    def unavailable(self, exc: Exception, accepted: Accepted | None = None) -> Answer:
        """503: Redis unreachable or the stream full; the provider retries."""
        self._log.warning("receipt_queue_unavailable", error=type(exc).__name__,
                          message_id=accepted.message_id if accepted else None)
        return QUEUE_UNAVAILABLE

    def answered(self, accepted: Accepted, entry_id: str | None) -> Answer:
        """200 ``ok`` once on the stream, or ``duplicate`` for a replay (not queued again)."""
        if entry_id is None:
            self._log.info("receipt_replayed", message_id=accepted.message_id, status=accepted.status)
            return DUPLICATE
        self._log.debug("receipt_queued", message_id=accepted.message_id, entry_id=entry_id)
        return OK

