"""What a receipt carries on one push: its params, stamped and signed, and any extra headers.

Vonage DLRs get ``scts``/``message-timestamp`` on the first push (kept for
retries) and, when a signature secret is set, a fresh ``timestamp``, ``nonce``
and ``sig`` on every push (docs/provider-api.md §5). Twilio callbacks get ``RawDlrDoneDate``
on the first push of a ``delivered``/``undelivered`` and an
``X-Twilio-Signature`` over the callback URL and params, keyed with the
account's auth token, on every push (docs/provider-routes.md §B.5).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from webhook.twilio.signature import HEADER, twilio_signature

from ..config import SimConfig
from .dlr import signed, stamp
from .receipt import TWILIO, Receipt
from .status_callbacks import DLR_DONE_STATUSES

Payload = tuple[dict[str, str], dict[str, str]]  # (params, extra headers)


def payload_for(receipt: Receipt, config: SimConfig) -> Payload:
    """What to push now for ``receipt`` under ``config``."""
    if receipt.style == TWILIO:
        return _twilio(receipt, config)
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
    return params, {HEADER: twilio_signature(config.twilio_auth_token, receipt.url, params)}
