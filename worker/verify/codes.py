"""Verification codes: drawn from a CSPRNG, kept only as a keyed hash, compared in constant time.

The rules (NIST SP 800-63B-4 §3.1.3, §3.2.2; OWASP ASVS 5.0 V6.5-6.6) this module carries:

* a code is ``length`` decimal digits (6-10) from :mod:`secrets`, every digit uniform and
  independent, leading zeros kept (``"004217"`` is a code, not ``4217``);
* what is stored is ``HMAC-SHA256(PINRELAY_VERIFY_SECRET, message)``, where the message
  binds the code to its verification id and its phone number: the same digits are a
  different hash in another verification, so a code is never valid for another one, and a
  copy of Redis without the secret cannot test the 10^6 candidates offline;
* input is bounded before any hashing (at most :data:`MAX_INPUT_CHARS` characters, ASCII
  digits only), and HMACs are compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from worker import constants as c
from worker.errors import ValidationError

__all__ = [
    "MAX_INPUT_CHARS",
    "DIGITS",
    "generate_code",
    "code_hmac",
    "hmacs_match",
    "normalize_input",
    "check_length",
]

DIGITS: Final = "0123456789"
MAX_INPUT_CHARS: Final = c.VERIFY_MAX_LENGTH  # longer input is refused before it is hashed
_DOMAIN: Final = b"pinrelay-verify-v1"  # versions the message layout below


def check_length(length: int) -> int:
    """``length`` if the rules allow it (6-10 digits); a :class:`ValidationError` otherwise."""
    if isinstance(length, bool) or not isinstance(length, int):
        raise ValidationError("length", f"must be a whole number, got {length!r}")
    if not c.VERIFY_MIN_LENGTH <= length <= c.VERIFY_MAX_LENGTH:
        raise ValidationError(
            "length",
            f"{length} digits is not allowed: a verification code has {c.VERIFY_MIN_LENGTH} to "
            f"{c.VERIFY_MAX_LENGTH} digits (NIST SP 800-63B-4 §3.1.3.1 asks for at least 6)",
        )
    return length


def generate_code(length: int) -> str:
    """``length`` uniform random decimal digits from the OS CSPRNG (:func:`secrets.choice`).

    Each digit is drawn on its own, so every position is uniform and a leading zero is as
    likely as any other digit; the result is a string and keeps it.
    """
    check_length(length)
    return "".join(secrets.choice(DIGITS) for _ in range(length))


def code_hmac(key: bytes, verification_id: str, to: str, code: str) -> str:
    """The stored form of ``code``: hex HMAC-SHA256 over the id, the number and the code.

    The parts are NUL-separated, and none of them can hold a NUL (ids are hex, numbers and
    codes digits), so no two (id, number, code) triples share a message.
    """
    message = b"\0".join((_DOMAIN, verification_id.encode(), to.encode(), code.encode()))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def hmacs_match(a: str, b: str) -> bool:
    """Constant-time equality of two hex HMACs (:func:`hmac.compare_digest`)."""
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))


def normalize_input(code: object) -> str | None:
    """The code as typed, if it can be one: a string of at most 10 ASCII digits; else None.

    Checked before hashing, so no input length reaches the HMAC; ``str.isdigit`` is not
    used because it accepts other scripts' digits (``"٣"``) and superscripts.
    """
    if not isinstance(code, str) or not 0 < len(code) <= MAX_INPUT_CHARS:
        return None
    if not all(ch in DIGITS for ch in code):
        return None
    return code
