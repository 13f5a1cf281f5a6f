"""Checks on a Twilio create-message request (docs/provider-routes.md §B.1), in the order the simulator
applies them.

Auth first: HTTP Basic with ``AccountSid:AuthToken``, or an API key
(``SK…`` SID and its secret) when one is configured; anything else is 401 /
20003. Then the path's AccountSid must be the account's (404 / 20404). Then the
params, each failure a 400 with its code: ``To`` missing (21604) or not E.164
with ``+`` (21211); neither ``From`` nor ``MessagingServiceSid`` (21603); a
``MessagingServiceSid`` that is not the account's (21701); a ``From`` the
account does not own (21606); no ``Body`` (21602) or over 1,600 characters
(21617); a ``StatusCallback`` that is not an http(s) URL with a valid hostname
without underscores (21609); a ``ValidityPeriod`` that is not a whole number of seconds
1..36000 (21624, code uncertain: docs/provider-routes.md §V); last an opted-out
recipient (21610).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from ..config import SimConfig

KNOWN_PARAMS: Final = frozenset(
    {
        "To", "From", "MessagingServiceSid", "Body", "StatusCallback", "ValidityPeriod",
        "ProvideFeedback", "Attempt", "MaxPrice", "SmartEncoded", "RiskCheck", "ForceDelivery",
        "ApplicationSid", "ContentSid", "ContentVariables", "MediaUrl", "SendAt", "ScheduleType",
        "SendAsMms", "ShortenUrls", "ContentRetention", "AddressRetention", "TrafficType",
        "FallbackFrom", "PersistentAction",
    }
)
MAX_BODY_CHARS: Final = 1600
VALIDITY_PERIOD_S: Final = (1, 36000)  # the spec's range; the default is the maximum
_E164: Final = re.compile(r"\+[1-9]\d{6,14}", re.ASCII)
_HOSTNAME: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?", re.ASCII)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a request is refused: the Twilio error code and the value its message names."""

    code: int
    value: str = ""


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def check_auth(basic: tuple[str, str] | None, path_sid: str, config: SimConfig) -> Failure | None:
    """20003 unless the Basic credentials are the account's or its API key's; 20404 for another account."""
    if basic is None:
        return Failure(20003)
    user, password = basic
    as_account = _same(user, config.twilio_account_sid) and _same(password, config.twilio_auth_token)
    as_key = _same(user, config.twilio_api_key_sid) and _same(password, config.twilio_api_key_secret)
    if not (as_account or as_key):
        return Failure(20003)
    if not _same(path_sid, config.twilio_account_sid):
        return Failure(20404, f"/2010-04-01/Accounts/{path_sid}/Messages.json")
    return None


def check_message(got: Mapping[str, str], config: SimConfig) -> Failure | None:
    """The first rule the params break, or None when the message is accepted."""
    to = got.get("To", "")
    if not to:
        return Failure(21604)
    if not _E164.fullmatch(to):
        return Failure(21211, to)
    service, sender = got.get("MessagingServiceSid", ""), got.get("From", "")
    if not service and not sender:
        return Failure(21603)
    if service and not _same(service, config.twilio_messaging_service_sid):
        return Failure(21701, service)
    if sender and sender not in config.twilio_numbers:
        return Failure(21606, sender)
    body = got.get("Body", "")
    if not body and not got.get("MediaUrl") and not got.get("ContentSid"):
        return Failure(21602)
    if len(body) > MAX_BODY_CHARS:
        return Failure(21617)
    callback = got.get("StatusCallback")
    if callback is not None and not status_callback_ok(callback):
        return Failure(21609, callback)
    validity = got.get("ValidityPeriod")
    if validity is not None and not (
        validity.isdigit() and VALIDITY_PERIOD_S[0] <= int(validity) <= VALIDITY_PERIOD_S[1]
    ):
        return Failure(21624, validity)
    if to in config.opted_out or to.removeprefix("+") in config.opted_out:
        return Failure(21610, to)
    return None


def status_callback_ok(url: str) -> bool:
    """http(s), and a hostname that is valid and has no underscore (B.1)."""
    split = urlsplit(url)
    host = split.hostname or ""
    valid_host = bool(_HOSTNAME.fullmatch(host)) or _is_ip(host)
    return split.scheme in ("http", "https") and bool(host) and valid_host


def _is_ip(host: str) -> bool:
    return ":" in host or bool(re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host))


def unknown_params(got: Mapping[str, str]) -> list[str]:
    """Names the create-message call does not list (accepted and ignored, but recorded)."""
    return sorted(name for name in got if name not in KNOWN_PARAMS)
