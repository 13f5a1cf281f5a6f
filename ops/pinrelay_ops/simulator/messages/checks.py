"""Checks on a Messages API request body (docs/provider-routes.md §E.1), SMS channel only.

Every broken rule is collected, as Vonage lists them all in one 422: ``channel`` must be
``sms`` and ``message_type`` ``text``; ``to`` is E.164 digits without ``+``
(``[1-9]\\d{6,14}``, the SDKs' own pattern); ``from`` a number of that form or an
alphanumeric sender of up to 11 characters; ``text`` 1-3200 characters; ``ttl`` a whole
number of seconds 20-604800; ``client_ref`` up to 100 characters; ``webhook_url`` an
http(s) URL; ``webhook_version`` ``v0.1`` or ``v1``; ``sms.encoding_type`` ``text``,
``unicode`` or ``auto``; ``trusted_recipient`` a boolean. Unknown fields are accepted and
recorded, as on the other routes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from ..vonage.sms_checks import callback_ok

KNOWN_FIELDS: Final = frozenset(
    {"channel", "message_type", "to", "from", "text", "ttl", "client_ref", "webhook_url",
     "webhook_version", "sms", "trusted_recipient"}
)
MAX_TEXT_CHARS: Final = 3200
TTL_S: Final = (20, 604_800)
MAX_CLIENT_REF_CHARS: Final = 100
_NUMBER: Final = re.compile(r"[1-9]\d{6,14}", re.ASCII)
_ALPHA_SENDER: Final = re.compile(r"[A-Za-z0-9 ]{1,11}", re.ASCII)
_ENCODINGS: Final = ("text", "unicode", "auto")


def check_body(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) for every rule ``body`` breaks; empty when the message is accepted."""
    problems: list[tuple[str, str]] = []
    if body.get("channel") != "sms":
        problems.append(("channel", "must be sms (the simulator's only channel)"))
    if body.get("message_type") != "text":
        problems.append(("message_type", "must be text"))
    if not (isinstance(body.get("to"), str) and _NUMBER.fullmatch(body["to"])):
        problems.append(("to", "must be E.164 digits without a leading + or 00"))
    sender = body.get("from")
    if not (isinstance(sender, str) and (_NUMBER.fullmatch(sender) or _ALPHA_SENDER.fullmatch(sender))):
        problems.append(("from", "must be a number or an alphanumeric sender of up to 11 characters"))
    text = body.get("text")
    if not (isinstance(text, str) and 0 < len(text) <= MAX_TEXT_CHARS):
        problems.append(("text", f"must be 1-{MAX_TEXT_CHARS} characters"))
    problems += _check_options(body)
    return problems


def _check_options(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    ttl = body.get("ttl")
    if ttl is not None and not (type(ttl) is int and TTL_S[0] <= ttl <= TTL_S[1]):
        problems.append(("ttl", f"must be whole seconds {TTL_S[0]}-{TTL_S[1]}"))
    ref = body.get("client_ref")
    if ref is not None and not (isinstance(ref, str) and len(ref) <= MAX_CLIENT_REF_CHARS):
        problems.append(("client_ref", f"must be a string of up to {MAX_CLIENT_REF_CHARS} characters"))
    url = body.get("webhook_url")
    if url is not None and not (isinstance(url, str) and callback_ok(url)):
        problems.append(("webhook_url", "must be an http(s) URL"))
    if body.get("webhook_version", "v1") not in ("v0.1", "v1"):
        problems.append(("webhook_version", "must be v0.1 or v1"))
    if not isinstance(body.get("trusted_recipient", False), bool):
        problems.append(("trusted_recipient", "must be a boolean"))
    sms = body.get("sms", {})
    if not isinstance(sms, Mapping):
        problems.append(("sms", "must be an object"))
    elif sms.get("encoding_type", "auto") not in _ENCODINGS:
        problems.append(("sms.encoding_type", f"must be one of {', '.join(_ENCODINGS)}"))
    return problems


def unknown_fields(body: Mapping[str, Any]) -> list[str]:
    """Top-level names the SMS message does not define (accepted and ignored, but recorded)."""
    return sorted(name for name in body if name not in KNOWN_FIELDS)
