"""One delivery receipt from request pieces to stream entry, and back to an answer.

What the receiver (:mod:`webhook.app`) does between reading a request and answering it:
parse and validate (:mod:`webhook.receipts`), check the signature (its key work cached,
:func:`worker.signing.signer`), build the stream fields and replay keys, and after the push
pick the answer and log it. The push itself is the receiver's writer's
(:mod:`webhook.writer`).

A validly signed receipt older than ``PINRELAY_SIGNATURE_WINDOW`` (up to the provider's retry
horizon) is a provider's retry after an outage, which may carry the original signature
(docs/provider-routes.md §G): it is neither refused (a 4xx is never retried, so it would be
lost) nor applied (an old signature proves less), but held as a ``late_signature`` dead
letter, answered 200 ``{"status":"late"}``, for ``pinrelay dead apply``. A replay of one
already seen is still ``duplicate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from worker.config import Settings
from worker.constants import LATE_RECEIPT_HORIZON_S
from worker.logs import get_logger

from .answers import DUPLICATE, LATE, OK, QUEUE_UNAVAILABLE, error
from .http.answers import Answer
from .http.errors import HttpError
from .queue import Entry, ResultQueue
from .receipts import Receipt, check_signature, parse_params

LATE_SIGNATURE: Final = "late_signature"  # the dead-letter reason of a late, validly signed receipt


@dataclass(frozen=True, slots=True)
class Accepted:
    """A receipt that passed every check: its stream entry, and what the log lines name."""

    entry: Entry
    message_id: str
    status: str
    late: bool = False  # held as a `late_signature` dead letter, not on the stream


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
        late = False
        if self._secret is not None:
            late = check_signature(params, secret=self._secret, method=self._method, window_s=self._window,
                                   now=now, horizon_s=LATE_RECEIPT_HORIZON_S)
        receipt = Receipt(params)
        keys = receipt.replay_keys if self._secret is not None else []
        fields = receipt.stream_fields(now)
        if late:
            entry = self._queue.held(LATE_SIGNATURE, receipt.message_id, fields, keys, now)
        else:
            entry = self._queue.entry(fields, keys)
        return Accepted(entry, receipt.message_id, receipt.status, late)

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
        if accepted.late:
            self._log.warning("receipt_late_signature", message_id=accepted.message_id,
                              status=accepted.status, hint="a dead letter: pinrelay dead apply receipts")
            return LATE
        self._log.debug("receipt_queued", message_id=accepted.message_id, entry_id=entry_id)
        return OK

