"""The documented submit responses (docs/provider-api.md §2, docs/provider-routes.md §A.2), JSON or XML,
every value a string.

Error entries carry ``status`` and ``error-text`` (on 2FA also ``to``/``client-ref``
when the caller sent them; on the SMS API nothing else, A.2) and no message-id,
because the real service charges and identifies only accepted messages. The SMS
API answers one entry per part (:func:`render_parts`).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from typing import Final
from xml.sax.saxutils import escape

#: error-text per status code: the names of docs/provider-api.md §3; "Missing to param" is the
# documented example.
ERROR_TEXTS: Final[Mapping[str, str]] = {
    "1": "Throughput Rate Exceeded - please wait [ {wait_ms} ] and retry",
    "2": "Missing {param} param",
    "3": "Invalid {param} param",
    "4": "Bad Credentials",
    "5": "Internal Error",
    "6": "Invalid Message",
    "7": "Number Barred",
    "8": "Partner Account Barred",
    "9": "Partner Quota Violation",
    "10": "Too Many Existing Binds",
    "11": "Account Not Enabled For HTTP",
    "12": "Message Too Long",
    "13": "Communication Failed",
    "14": "Invalid Signature",
    "15": "Invalid Sender Address",
    "16": "Invalid TTL",
    "19": "Facility Not Allowed",
    "20": "Invalid Message Class",
    "22": "Invalid Network Code",
    "23": "Invalid Callback Url",
    "29": "Non-Whitelisted Destination",
    "32": "Signature And API Secret Disallowed",
    "33": "Number De-activated",
    "34": "Invalid or Missing Msisdn Param",
    "101": "RESPONSE_INVALID_ACCOUNT_CAMPAIGN",
    "102": "RESPONSE_MSISDN_OPTED_OUT_FOR_CAMPAIGN",
}
_XML_NAMES: Final[Mapping[str, str]] = {
    "message-id": "messageId",
    "remaining-balance": "remainingBalance",
    "message-price": "messagePrice",
    "client-ref": "clientRef",
    "error-text": "errorText",
}


def throttle_text(wait_ms: int) -> str:
    """The status-1 text clients parse for the wait (``[ N ]`` in ms)."""
    return ERROR_TEXTS["1"].format(wait_ms=max(1, int(wait_ms)))


def error_text(status: str, param: str = "") -> str:
    """A plausible error-text for ``status`` (``param`` fills codes 2 and 3)."""
    text = ERROR_TEXTS.get(status, f"Error {status}")
    if status == "1":
        return throttle_text(1000)
    return text.format(param=param or "required")


class MessageIds:
    """Unique 16-char uppercase hex ids: a random 32-bit prefix plus a counter.

    Uniqueness needs no set of issued ids, which keeps it cheap at thousands/s.
    """

    def __init__(self) -> None:
        self._prefix = secrets.randbits(32)
        self._counter = itertools.count(secrets.randbits(24))
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            value = next(self._counter)
        return f"{self._prefix:08X}{value & 0xFFFFFFFF:08X}"


def accepted_message(
    to: str, message_id: str, balance: str, price: str, network: str, client_ref: str | None
) -> dict[str, str]:
    """``messages[0]`` for status 0."""
    message = {
        "to": to,
        "message-id": message_id,
        "status": "0",
        "remaining-balance": balance,
        "message-price": price,
        "network": network,
    }
    if client_ref is not None:
        message["client-ref"] = client_ref
    return message


def error_message(
    status: str, text: str, to: str | None = None, client_ref: str | None = None
) -> dict[str, str]:
    """``messages[0]`` for a refused submission."""
    message = {"status": status, "error-text": text}
    if to:
        message["to"] = to
    if client_ref is not None:
        message["client-ref"] = client_ref
    return message


def render_json(message: Mapping[str, str]) -> bytes:
    """The whole body: ``{"message-count": "1", "messages": [message]}``."""
    return json.dumps({"message-count": "1", "messages": [dict(message)]}).encode()


def render_parts(messages: Sequence[Mapping[str, str]]) -> bytes:
    """The SMS API body: one ``messages`` entry per part, ``message-count`` their number (a string)."""
    return json.dumps({"message-count": str(len(messages)), "messages": [dict(m) for m in messages]}).encode()


def render_xml(message: Mapping[str, str]) -> bytes:
    """The ``/xml`` body: ``<mt-submission-response><messages count='1'>...``."""
    inner = "".join(
        f"<{_XML_NAMES.get(k, k)}>{escape(v)}</{_XML_NAMES.get(k, k)}>" for k, v in message.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?><mt-submission-response>'
        f"<messages count='1'><message>{inner}</message></messages></mt-submission-response>"
    ).encode()
