"""The verify flow's exceptions, under :class:`worker.errors.PinrelayError`.

::

    PinrelayError
    └── VerificationError            a verify call could not do what was asked
        ├── UnknownVerificationError no verification with that id (also an UnknownRequestError)
        └── ResendRefusedError       the verification ended, or every send is used

A code that is too short, a TTL over 10 minutes or a bad number is a
:class:`worker.errors.ValidationError` (``pinrelay`` exits 2), a missing or short
``PINRELAY_VERIFY_SECRET`` a :class:`worker.errors.ConfigError`. A wrong code is not an
exception at all: it is the ``wrong_code`` status of a check. No message carries a code.
"""

from __future__ import annotations

from worker.errors import PinrelayError, UnknownRequestError

__all__ = ["VerificationError", "UnknownVerificationError", "ResendRefusedError"]


class VerificationError(PinrelayError):
    """A verify call could not do what was asked."""


class UnknownVerificationError(UnknownRequestError, VerificationError):
    """No verification exists with that id (never started, or its record expired)."""

    def __str__(self) -> str:
        return f"unknown verification id {self.request_id!r}"


class ResendRefusedError(VerificationError):
    """No new code: the verification ended (``reason`` is its state) or every send is used."""

    def __init__(self, verification_id: str, reason: str, message: str) -> None:
        super().__init__(f"verification {verification_id}: {message}")
        self.verification_id = verification_id
        self.reason = reason
