"""The Conversion API (docs/provider-api.md §6): ``POST /conversions/sms`` telling the provider a PIN
was used.

Credentials, as the SDKs send them (docs/provider-routes.md §F): ``api_key`` +
``api_secret`` in the query, form or JSON body; ``Authorization: Basic`` with no key in
the body (the v4 Python SDK without a signature secret); or ``api_key`` + ``sig`` over
every other param (the v4 SDK with one: its ``timestamp`` param is the conversion's
date-time, which it signs as is). With ``conversion_signing_required`` an unsigned call
is refused (401), as on an account where support made signing compulsory.

Answers 200 ``OK``; 401 for wrong credentials; 420 for a missing
``message-id``, a ``delivered`` other than true/false/1/0 (any case: the Python SDK
sends ``True``), or a malformed ``timestamp``; 405 for other methods. ``conversion_script``
forces the status of the next calls (e.g. 402 not enabled, 429, 500) before any check.
Each call is recorded with how it authenticated (``auth``: body, basic or signature).
"""

from __future__ import annotations

import hmac
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Final

from worker.signing import verify

from ..config import SimConfig
from ..http import params
from ..http.exchange import Answer, Inbound
from ..ledger import Ledger
from .sms_checks import with_basic_credentials

_DELIVERED: Final = frozenset({"true", "false", "1", "0"})
TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S"


class Conversions:
    """Checks and records conversion calls; ``config`` is read afresh on every call."""

    def __init__(self, config: Callable[[], SimConfig], ledger: Ledger) -> None:
        self._config = config
        self._ledger = ledger
        self._lock = threading.Lock()
        self._script: deque[int] = deque()

    def load(self, config: SimConfig) -> None:
        """Replace the forced statuses still to come with ``config.conversion_script``."""
        with self._lock:
            self._script = deque(config.conversion_script)

    def remaining_script(self) -> list[int]:
        with self._lock:
            return list(self._script)

    def handle(self, inbound: Inbound) -> Answer:
        config = self._config()
        got = params.parse(inbound.query, inbound.content_type, inbound.body)
        auth = "signature" if got.get("sig") else "body" if got.get("api_key") else "basic"
        credentials = with_basic_credentials(got, inbound.basic_auth())
        with self._lock:
            forced = self._script.popleft() if self._script else None
        if forced is not None:
            answer = Answer.text("simulated", forced)
        elif inbound.method != "POST":
            answer = Answer(405, b"", "text/plain", headers=(("Allow", "POST"),))
        elif not credentials_ok(credentials, config):
            answer = Answer.text("Unauthorized", 401)
        elif config.conversion_signing_required and auth != "signature":
            answer = Answer.text("Unauthorized: this account requires signed requests", 401)
        elif not params_ok(got):
            answer = Answer.text("Invalid parameters", 420)
        else:
            answer = Answer.text("OK")
        self._ledger.record_conversion(
            {
                "params": got,
                "auth": auth,
                "method": inbound.method,
                "content_type": inbound.content_type,
                "arrived": inbound.arrived,
                "http_status": answer.status,
                "forced": forced is not None,
                "known_message": self._ledger.knows_message(got.get("message-id", "")),
            }
        )
        return answer


def credentials_ok(got: dict[str, str], config: SimConfig) -> bool:
    """``api_key`` plus either ``api_secret`` or a valid ``sig`` (never both)."""
    if not hmac.compare_digest(got.get("api_key", "").encode(), config.api_key.encode()):
        return False
    if got.get("api_secret"):
        secret_ok = hmac.compare_digest(got["api_secret"].encode(), config.api_secret.encode())
        return "sig" not in got and secret_ok
    if got.get("sig") and config.signature_secret:
        return verify(got, config.signature_secret, config.signature_method)
    return False


def params_ok(got: dict[str, str]) -> bool:
    """``message-id`` present, ``delivered`` a boolean, ``timestamp`` (if any) well-formed.

    With ``sig`` the ``timestamp`` param is the signing time (unix seconds), so
    its format is not checked then.
    """
    if not got.get("message-id") or got.get("delivered", "").lower() not in _DELIVERED:
        return False
    if "timestamp" in got and "sig" not in got:
        try:
            datetime.strptime(got["timestamp"], TIMESTAMP_FORMAT)
        except ValueError:
            return False
    return True
