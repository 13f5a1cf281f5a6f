"""The delivery-receipt receiver: a plain WSGI app that puts receipts on a Redis Stream."""

from __future__ import annotations

from .app import ReceiverApp, create_app
from .errors import (
    MalformedReceiptError,
    ReceiptError,
    ReceiptTooLargeError,
    SignatureRejectedError,
    UnsupportedMediaTypeError,
)
from .queue import ResultQueue
from .receipts import Receipt
from .serve import build_command, build_env, serve

__all__ = [
    "MalformedReceiptError",
    "Receipt",
    "ReceiptError",
    "ReceiptTooLargeError",
    "ReceiverApp",
    "ResultQueue",
    "SignatureRejectedError",
    "UnsupportedMediaTypeError",
    "build_command",
    "build_env",
    "create_app",
    "serve",
]
