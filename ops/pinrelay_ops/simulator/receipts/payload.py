"""What a receipt carries on one push: its params, stamped and signed, and any extra headers.

Vonage DLRs get ``scts``/``message-timestamp`` on the first push (kept for
retries) and, when a signature secret is set, a fresh ``timestamp``, ``nonce``
and ``sig`` on every push (docs/provider-api.md §5). Twilio callbacks get ``RawDlrDoneDate``
on the first push of a ``delivered``/``undelivered`` and an ``X-Twilio-Signature``
over the callback URL and params on every push: HMAC-SHA1 keyed with the auth
token, or, with a SharedKey (``twilio_signing_key``), the key's algorithm and an
``X-Twilio-Webhooks-Signature-Settings`` header naming it (docs/provider-routes.md §B.5).
Messages API webhooks are compact JSON with ``Authorization: Bearer <JWT>``, an
HS256 token over the exact body bytes (``payload_hash``), made per push
(docs/provider-routes.md §E.5).

A JSON push is sent as the bytes of :func:`json_body`, so the hash a receiver
computes over the body it got is the hash that was signed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from webhook.twilio.signature import HEADER, SETTINGS_HEADER, twilio_signature

from ..config import SimConfig
from ..messages.signing import AUTHORIZATION, bearer
from .dlr import signed, stamp
from .receipt import MESSAGES, TWILIO, Receipt
from .status_callbacks import DLR_DONE_STATUSES

Payload = tuple[dict[str, Any], dict[str, str]]  # (params or JSON body, extra headers)


def json_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes a JSON push sends: compact, keys in insertion order."""
    return json.dumps(payload, separators=(",", ":")).encode()


def payload_for(receipt: Receipt, config: SimConfig) -> Payload:
    """What to push now for ``receipt`` under ``config``."""
    if receipt.style == TWILIO:
        return _twilio(receipt, config)
    if receipt.style == MESSAGES:
        return _messages(receipt, config)
    if "message-timestamp" not in receipt.fields:
        stamp(receipt.fields, datetime.now(UTC))
    if config.signs_receipts:
        return signed(receipt.fields, config.signature_secret, config.signature_method, time.time()), {}
    return dict(receipt.fields), {}


def _twilio(receipt: Receipt, config: SimConfig) -> Payload:
    fields = receipt.fields
    if fields["MessageStatus"] in DLR_DONE_STATUSES and "RawDlrDoneDate" not in fields:
        fields["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
    params = dict(fields)
    if not config.twilio_signing_key:
        return params, {HEADER: twilio_signature(config.twilio_auth_token, receipt.url, params)}
    algorithm = config.twilio_signing_algorithm
    return params, {
        HEADER: shared_key_signature(config.twilio_signing_key, algorithm, receipt.url, params),
        SETTINGS_HEADER: f"key={config.twilio_signing_key_sid},algorithm={algorithm}",
    }


def shared_key_signature(key: str, algorithm: str, url: str, params: dict[str, Any]) -> str:
    """``X-Twilio-Signature`` made with a SharedKey: the same signed string, the named HMAC (the
    receiver's own algorithm, ``webhook.twilio.signature``)."""
    return twilio_signature(key, url, params, algorithm)


def _messages(receipt: Receipt, config: SimConfig) -> Payload:
    if "timestamp" not in receipt.fields:  # when the status happened: kept for retries
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        receipt.fields["timestamp"] = now.replace("+00:00", "Z")
    body = dict(receipt.fields)
    if not config.signature_secret:
        return body, {}
    token = bearer(json_body(body), config.signature_secret, config.api_key, config.vonage_application_id)
    return body, {AUTHORIZATION: f"Bearer {token}"}
