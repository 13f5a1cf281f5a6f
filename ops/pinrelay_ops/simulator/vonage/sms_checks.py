"""Checks on an SMS API submission (docs/provider-routes.md §A.1, A.5), in the order the simulator
applies them.

Credentials as on 2FA (2 / 32 / 4 / 14), or an ``Authorization: Basic`` header
as the v4 python SDK sends; then ``to`` (2 / 3), ``from`` (2 / 3, and 15 for an
alphanumeric sender to a North American number, where only numbers may send),
the content (``type`` 3, ``text`` 2, over 3200 characters 12, binary without
``body``/``udh`` 2), the options (``client-ref`` over 40 characters 3,
``status-report-req`` 3, ``ttl`` 16, ``message-class`` 20, ``callback`` 23), and
last the barred numbers (7). An opted-out number is *not* refused here: on
the SMS API STOP shows up as DLR err-code 9 (A.5), which :mod:`.sms` plans.
Unknown params are accepted and recorded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from ..config import SimConfig
from .checks import CLIENT_REF_MAX_CHARS, Refusal, check_credentials, check_recipient, refuse

SMS_PARAMS: Final = frozenset(
    {
        "api_key", "api_secret", "sig", "timestamp", "from", "to", "text", "type", "client-ref",
        "status-report-req", "callback", "ttl", "message-class", "account-ref", "entity-id",
        "content-id", "body", "udh", "protocol-id", "trusted-number",
    }
)
TYPES: Final = ("text", "unicode", "binary", "wappush", "vcal", "vcard")
MAX_TEXT_CHARS: Final = 3200
TTL_MS: Final = (20_000, 604_800_000)  # allowed range; the default is 72 h
MAX_CALLBACK_CHARS: Final = 2048
_BOOLEANS: Final = frozenset({"true", "false", "1", "0"})
_NUMERIC_SENDER: Final = re.compile(r"[1-9]\d{0,14}", re.ASCII)
_ALPHA_SENDER: Final = re.compile(r"[A-Za-z0-9]{1,11}", re.ASCII)
_NANP: Final = "1"  # the US and Canada: numbers only as senders (A.5)


def with_basic_credentials(params: Mapping[str, str], basic: tuple[str, str] | None) -> dict[str, str]:
    """``params`` with ``api_key``/``api_secret`` taken from a Basic header when the body has no key."""
    merged = dict(params)
    if basic is not None and not merged.get("api_key"):
        merged["api_key"], merged["api_secret"] = basic
    return merged


def check_sms(
    params: Mapping[str, str], config: SimConfig, basic: tuple[str, str] | None = None
) -> Refusal | None:
    """The first rule ``params`` break, or None when the send is accepted."""
    return (
        check_credentials(with_basic_credentials(params, basic), config)
        or check_recipient(params)
        or _check_sender(params)
        or _check_content(params)
        or _check_options(params)
        or (refuse("7") if params["to"] in config.barred else None)
    )


def _check_sender(params: Mapping[str, str]) -> Refusal | None:
    sender = params.get("from", "")
    if not sender:
        return refuse("2", "from")
    if sender.isdigit():
        if not _NUMERIC_SENDER.fullmatch(sender):  # no leading 00, at most 15 digits
            return refuse("3", "from")
    elif not _ALPHA_SENDER.fullmatch(sender.replace(" ", "")):
        return refuse("3", "from")
    elif params["to"].startswith(_NANP):
        return refuse("15")
    return None


def _check_content(params: Mapping[str, str]) -> Refusal | None:
    kind = params.get("type", "text")
    if kind not in TYPES:
        return refuse("3", "type")
    if kind == "binary":
        for name in ("body", "udh"):
            if not params.get(name):
                return refuse("2", name)
        return None
    text = params.get("text", "")
    if not text:
        return refuse("2", "text")
    if len(text) > MAX_TEXT_CHARS:
        return refuse("12")
    return None


def _check_options(params: Mapping[str, str]) -> Refusal | None:
    client_ref = params.get("client-ref")
    if client_ref is not None and len(client_ref) > CLIENT_REF_MAX_CHARS:
        return refuse("3", "client-ref")
    report = params.get("status-report-req")
    if report is not None and report.lower() not in _BOOLEANS:
        return refuse("3", "status-report-req")
    ttl = params.get("ttl")
    if ttl is not None and not (ttl.isdigit() and TTL_MS[0] <= int(ttl) <= TTL_MS[1]):
        return refuse("16")
    message_class = params.get("message-class")
    if message_class is not None and message_class not in ("0", "1", "2", "3"):
        return refuse("20")
    callback = params.get("callback")
    if callback is not None and not callback_ok(callback):
        return refuse("23")
    return None


def callback_ok(url: str) -> bool:
    """An http(s) URL with a host, not absurdly long (Vonage wants https; http serves local tests)."""
    split = urlsplit(url)
    return split.scheme in ("http", "https") and bool(split.hostname) and len(url) <= MAX_CALLBACK_CHARS


def wants_receipts(params: Mapping[str, str]) -> bool:
    """``status-report-req`` defaults to true (A.1)."""
    return params.get("status-report-req", "true").lower() in ("true", "1")


def unknown_sms_params(params: Mapping[str, str]) -> list[str]:
    """Names the SMS spec does not list (accepted and ignored, but recorded)."""
    return sorted(name for name in params if name not in SMS_PARAMS)
