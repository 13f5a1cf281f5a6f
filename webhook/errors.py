"""Why the receiver refused a delivery receipt, one class per HTTP answer.

::

    PinrelayError                       (worker.errors, the project's one root)
    └── HttpError                       (webhook.http.errors: also the core's 400 for a bad
        │                               Content-Length or a body cut off, 408, 413)
        └── ReceiptError                the receipt was refused; nothing was queued
            ├── MalformedReceiptError   400: bad encoding, bad JSON, missing field, ...
            ├── SignatureRejectedError  401: missing / wrong / stale signature
            ├── CallbackRefusedError    403: a Twilio callback not signed right (or
            │                           the Twilio route not configured here)
            └── UnsupportedMediaTypeError  415: a body that is neither form nor JSON
    ResultQueueFullError                503: the stream holds PINRELAY_WEBHOOK_BACKLOG_MAX
                                        receipts not yet correlated (also a redis.RedisError)

Each class carries its HTTP status, and the message is the short reason sent
back as ``{"error": "..."}``. Messages name parameters, never their values, so
they are safe to log and to return (no ``sig``, no phone number, no secret).
Redis being down (or the stream full) is not a ``ReceiptError``: the receipt is fine,
the receiver answers 503 so the provider retries it later.
"""

from __future__ import annotations

import redis

from worker.errors import PinrelayError

from .http.errors import HttpError


class ReceiptError(HttpError):
    """A delivery receipt was refused; ``http_status`` says how to answer."""

    http_status = 400


class MalformedReceiptError(ReceiptError):
    """The request cannot be read as a receipt (encoding, JSON, fields, limits)."""

    http_status = 400


class SignatureRejectedError(ReceiptError):
    """Signing is on and the signature is missing, wrong or outside the time window."""

    http_status = 401


class CallbackRefusedError(ReceiptError):
    """A Twilio status callback whose ``X-Twilio-Signature`` is missing or wrong, or that this
    receiver cannot check (no auth token or status URL)."""

    http_status = 403


class UnsupportedMediaTypeError(ReceiptError):
    """The body's Content-Type is neither form-urlencoded nor JSON (or not UTF-8)."""

    http_status = 415


class ResultQueueFullError(PinrelayError, redis.RedisError):  # type: ignore[misc]
    """Nobody correlates the receipts (no correlator running): the stream is at its bound.

    A ``redis.RedisError`` too, so every path that answers 503 for Redis trouble answers
    503 for this: the provider sends the receipt again later, nothing is lost.
    """
