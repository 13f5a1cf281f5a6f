"""Twilio status callbacks (docs/provider-routes.md §B.4, §B.5): ``POST /twilio-status-webhook``.

The ``twilio`` route sends every message with ``StatusCallback`` =
``PINRELAY_TWILIO_STATUS_URL``; Twilio then POSTs a form per status change, signed with
``X-Twilio-Signature`` over that URL and the form (``webhook.twilio.signature``). The key
and the hash are chosen as the official validators choose them (docs/provider-routes.md
§B.5): without ``X-Twilio-Webhooks-Signature-Settings``, HMAC-SHA1 keyed with
``PINRELAY_TWILIO_AUTH_TOKEN``; with it, the HMAC it names (``HMAC_SHA1``/``HMAC_SHA256``)
keyed with the SharedKey secret ``PINRELAY_TWILIO_SIGNING_KEY``. The form is read with every
value of a repeated name, each signed as Twilio signs it. The URL checked is the configured
public one, not what this process saw, so a proxy in front changes nothing. A callback is:

* refused 403 unless signed right (or when the Twilio route is not configured here, or
  it is signed with a SharedKey and no ``PINRELAY_TWILIO_SIGNING_KEY`` is set);
* 400 when a field we read (``MessageSid``, ``MessageStatus``, ``ErrorCode``, ``To``,
  ``From``) has two different values;
* 400 without ``MessageSid``/``MessageStatus``, 413/415 like any receipt;
* otherwise mapped onto our receipt fields and pushed on the same durable stream as
  Vonage receipts, so the same correlator settles the send by its message-id (the
  ``MessageSid``). A repeat of one (``MessageSid``, ``MessageStatus``) within two
  signature windows is answered 200 ``duplicate`` and not queued again; 503 while Redis is
  unreachable (Twilio retries).

Twilio's signature has no timestamp, so a captured callback stays valid for ever. After the
replay window the guard is the correlator's, and it is the documented one (issue 23 finding
7): a send's states only move forward, so a callback for the state it is in is a duplicate and
one for an earlier state is stale; neither changes the record, its times or the route's
delivery counts (``tests/integration/test_routes_live.py``). Remembering every callback for the
record's TTL instead would cost a key per callback for 7 days.

=================================  ========================
``MessageStatus``                  our receipt status
=================================  ========================
queued, accepted, scheduled,       buffered
sending
sent                               accepted (with the carrier)
delivered                          delivered
undelivered                        failed (the carrier could not deliver)
failed, canceled                   rejected (never left Twilio)
failed or undelivered with 30036   expired (its ``ValidityPeriod`` ran out, §V)
anything else                      itself (the correlator keeps an unknown one as a dead letter)
=================================  ========================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from worker.config import Settings
from worker.logs import get_logger

from ..errors import CallbackRefusedError, MalformedReceiptError, UnsupportedMediaTypeError
from ..queue import Entry, ResultQueue
from ..receipts import FORM_TYPE, RECEIVED_AT_FIELD, media_type, parse_pairs
from .signature import signature_algorithm, verify_twilio

TWILIO_STATUS_PATH: Final = "/twilio-status-webhook"
STATUS_MAP: Final = {
    "queued": "buffered", "accepted": "buffered", "scheduled": "buffered", "sending": "buffered",
    "sent": "accepted", "delivered": "delivered", "undelivered": "failed",
    "failed": "rejected", "canceled": "rejected",
}
VALIDITY_EXPIRED: Final = "30036"  # "Validity Period Expired": the message outlived its ValidityPeriod
READ_FIELDS: Final = ("MessageSid", "MessageStatus", "ErrorCode", "To", "From")


def receipt_fields(params: dict[str, str], received_at: float) -> dict[str, str]:
    """A callback's form as the stream fields the correlator reads (those of a Vonage DLR)."""
    raw = params["MessageStatus"].strip().lower()
    status = STATUS_MAP.get(raw, raw)
    if raw in ("failed", "undelivered") and params.get("ErrorCode", "").strip() == VALIDITY_EXPIRED:
        status = "expired"
    fields = {
        "messageId": params["MessageSid"],
        "status": status,
        "err-code": params.get("ErrorCode") or ("0" if raw == "delivered" else ""),
        "msisdn": params.get("To", "").removeprefix("+"),
        "to": params.get("From", ""),
        "route": "twilio",
        "twilio-status": raw,
        RECEIVED_AT_FIELD: f"{received_at:.6f}",
    }
    return {name: value for name, value in fields.items() if value}


def single_values(values: dict[str, list[str]]) -> dict[str, str]:
    """One value per name: the fields we read must not say two things (400); of any other
    repeated name (signed, and passed on nowhere) the last is kept."""
    for name in READ_FIELDS:
        if len(set(values.get(name, ()))) > 1:
            raise MalformedReceiptError(f"{name} is given twice with different values")
    return {name: given[-1] for name, given in values.items()}


class TwilioStatus:
    """The checks; the receiver (:mod:`webhook.app`) calls :meth:`check_configured` before it
    reads the body, :meth:`check` on the body, then pushes the entry and answers."""

    def __init__(self, settings: Settings, queue: ResultQueue,
                 clock: Callable[[], float] = time.time) -> None:
        self._token = settings.twilio_auth_token
        self._shared_key = settings.twilio_signing_key
        self._url = settings.twilio_status_url
        self._queue = queue
        self._clock = clock
        self._log = get_logger("webhook.twilio")

    def check_configured(self) -> None:
        """:class:`CallbackRefusedError` (403) when this receiver cannot check callbacks; decided
        before the body is read."""
        if not (self._token or self._shared_key) or not self._url:
            self._log.warning("twilio_callback_unconfigured")
            raise CallbackRefusedError(
                "not configured: PINRELAY_TWILIO_AUTH_TOKEN, PINRELAY_TWILIO_STATUS_URL")

    def check(self, body: bytes, content_type: str | None, signature: str,
              settings_header: str = "") -> Entry:
        """The stream entry of a signed, complete callback; else a :class:`ReceiptError` (4xx).

        ``settings_header`` is ``X-Twilio-Webhooks-Signature-Settings`` (empty when absent)."""
        if media_type(content_type) not in (None, FORM_TYPE):
            raise UnsupportedMediaTypeError("Twilio callbacks are form posts")
        values: dict[str, list[str]] = {}
        for name, value in parse_pairs(body, "body"):
            values.setdefault(name, []).append(value)
        shared = bool(settings_header.strip())  # Node: `signatureSettings ? sharedKeySecret : authToken`
        key = self._shared_key if shared else self._token
        if shared and not key:
            self._log.warning("twilio_callback_rejected", reason="shared_key_unconfigured")
            raise CallbackRefusedError("signed with a SharedKey: PINRELAY_TWILIO_SIGNING_KEY is not set")
        algorithm = signature_algorithm(settings_header)
        if not verify_twilio(key or "", self._url or "", values, signature, algorithm=algorithm):
            self._log.info("twilio_callback_rejected", reason="signature", algorithm=algorithm[:16])
            raise CallbackRefusedError("X-Twilio-Signature missing or wrong")
        params = single_values(values)
        if not params.get("MessageSid", "").strip() or not params.get("MessageStatus", "").strip():
            raise MalformedReceiptError("missing MessageSid or MessageStatus")
        fields = receipt_fields(params, self._clock())
        return self._queue.entry(fields, f"twilio:{params['MessageSid']}:{fields['twilio-status']}")

    def unavailable(self, exc: Exception) -> None:
        """Log that the callback could not be queued (the receiver answers 503; Twilio retries)."""
        self._log.warning("receipt_queue_unavailable", error=type(exc).__name__)
