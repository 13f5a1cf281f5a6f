"""What the Twilio Messages API answers (docs/provider-routes.md §B.2, B.3): the created message, or an error.

Success is **HTTP 201** with the Message resource (``sid`` ``SM`` + 32 hex,
``status`` ``queued``, or ``accepted`` with a Messaging Service; counts as
strings, ``price`` null until sent, RFC 2822 dates). An error is the legacy
JSON ``{"code", "message", "more_info", "status"}`` with the HTTP status of
:data:`ERRORS` (400 for an unlisted code, unless it looks like a 5xx).

The codes and wording marked "uncertain" below are from memory of Twilio's
error pages, not from docs/provider-routes.md, which leaves those cases open.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final

from ..http.exchange import Answer
from ..receipts.status_callbacks import API_VERSION

MORE_INFO: Final = "https://www.twilio.com/docs/errors/{code}"
#: code -> (HTTP status, message); ``{}`` placeholders take the offending value
ERRORS: Final[Mapping[int, tuple[int, str]]] = {
    20003: (401, "Authenticate"),  # wording uncertain; the doc: bad SID/token/key
    20404: (404, "The requested resource {} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),  # uncertain
    21211: (400, "The 'To' number {} is not a valid phone number."),
    21408: (400, "Permission to send an SMS has not been enabled for the region of the 'To' number"),
    21602: (400, "Message body is required."),  # code uncertain
    21603: (400, "A 'From' phone number is required."),  # code uncertain (B.1: "uncertain")
    21604: (400, "A 'To' phone number is required."),  # code uncertain
    21606: (400, "The From phone number {} is not a valid, SMS-capable phone number for your account."),
    21608: (400, "The number {} is unverified. Trial accounts may only send messages to verified numbers."),
    21609: (400, "Invalid StatusCallback"),  # code uncertain
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21612: (400, "The 'To' phone number is not currently reachable via SMS"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),  # code uncertain
    21624: (400, "Invalid validity period value"),  # code uncertain (90007 has the same text)
    21635: (400, "'To' number cannot be a landline."),
    21701: (400, "The Messaging Service Sid {} is invalid."),  # code uncertain
}


def error_status(code: int) -> int:
    """The HTTP status a code is answered with."""
    if code in ERRORS:
        return ERRORS[code][0]
    return 500 if 20500 <= code <= 20599 else 400


def error(code: int, value: str = "", headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    """The error JSON for ``code`` (``value`` fills the message's placeholder)."""
    status = error_status(code)
    template = ERRORS[code][1] if code in ERRORS else f"Error {code}"
    body = {
        "code": code,
        "message": template.format(value) if "{}" in template else template,
        "more_info": MORE_INFO.format(code=code),
        "status": status,
    }
    if code == 20003:
        headers = (*headers, ("WWW-Authenticate", 'Basic realm="Twilio API"'))
    return Answer(status, json.dumps(body).encode(), headers=headers)


class MessageSids:
    """Unique ``SM`` + 32 lowercase hex: a random 64-bit prefix and a counter (no set of issued ids)."""

    def __init__(self) -> None:
        self._prefix = secrets.randbits(64)
        self._counter = itertools.count(secrets.randbits(32))
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            value = next(self._counter)
        return f"SM{self._prefix:016x}{value & 0xFFFFFFFFFFFFFFFF:016x}"


def rfc2822(moment: datetime | None = None) -> str:
    """``Thu, 24 Aug 2023 05:01:45 +0000``: Twilio's date form, always GMT."""
    return format_datetime((moment or datetime.now(UTC)).astimezone(UTC))


def created(
    sid: str,
    account_sid: str,
    to: str,
    sender: str | None,
    messaging_service_sid: str | None,
    body: str,
    num_segments: int,
) -> Answer:
    """HTTP 201 with the Message resource just created."""
    now = rfc2822()
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
    resource: dict[str, Any] = {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": sender,
        "messaging_service_sid": messaging_service_sid,
        "num_media": "0",
        "num_segments": "0" if messaging_service_sid else str(num_segments),
        "price": None,
        "price_unit": None,
        "sid": sid,
        "status": "accepted" if messaging_service_sid else "queued",
        "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
        "to": to,
        "uri": uri,
    }
    return Answer(201, json.dumps(resource).encode())
