"""What the two Vonage routes share: credentials or a signature, the answer, the status table.

The short-code 2FA call (:mod:`.sc2fa`) and the SMS API (:mod:`.sms`) answer in the
same shape (docs/provider-api.md §2, provider-routes.md §A.2): HTTP 200 with
``messages[]``, one entry per part, every value a string. The rules for reading it:

* a part with status ``"0"`` and a ``message-id`` was accepted; every id is kept, so
  each part's receipt finds the send;
* a part with **no status**, or status 0 without an id, may have gone out: the send is
  ``unconfirmed`` (never resent), not an error;
* some parts accepted and some refused (a partial failure, §A.4): ``unconfirmed``
  too, with the accepted ids, since those parts are out and charged;
* every part refused: the first part's code decides (§3), nothing went out.

With ``PINRELAY_API_SIGNATURE_SECRET`` a request carries ``timestamp`` and ``sig``
(over every param sent, §5 and §A.6) instead of ``api_secret``; sending both would be
status 32.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Final

import requests

from worker.config import Settings
from worker.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnconfirmedSendError,
)
from worker.send.routes.base import GATEWAY_STATUSES, Accepted, Blame, blame_by_code
from worker.signing import sign

# docs/provider-api.md §3: the codes worth retrying; every other code (documented or not) is permanent.
TRANSIENT_STATUSES: Final = frozenset({"1", "5", "10", "13"})
STATUS_NAMES: Final = {
    "0": "Success", "1": "Throttled", "2": "Missing Parameters", "3": "Invalid Parameters",
    "4": "Invalid Credentials", "5": "Internal Error", "6": "Invalid Message", "7": "Number Barred",
    "8": "Partner Account Barred", "9": "Partner Quota Violation", "10": "Too Many Existing Binds",
    "11": "Account Not Enabled For HTTP/REST", "12": "Message Too Long", "13": "Communication Failed",
    "14": "Invalid Signature", "15": "Invalid Sender Address", "16": "Invalid TTL",
    "19": "Facility Not Allowed", "20": "Invalid Message Class", "22": "Invalid Network Code",
    "23": "Invalid Callback Url", "29": "Non-Whitelisted Destination",
    "32": "Signature And API Secret Disallowed", "33": "Number De-activated",
    "34": "Invalid Or Missing Msisdn Param", "101": "Invalid Account Campaign",
    "102": "Msisdn Opted Out For Campaign",
}
#: the failover table (README "Routes and failover"): the number's fault ends the send ...
NUMBER_STATUSES: Final = frozenset({"3", "6", "7", "33", "34", "102"})
#: ... this number on this route (network code 22, a demo account's whitelist 29) moves it on,
#: opening no breaker ...
DESTINATION_STATUSES: Final = frozenset({"22", "29"})
#: ... the sender is not allowed for the number's country (15): moves it on and counts toward
#: the (route, country) breaker (docs/provider-routes.md §C) ...
COUNTRY_STATUSES: Final = frozenset({"15"})
#: ... the route's (credentials, account, quota, signing, campaign) moves it on and opens its breaker
ROUTE_STATUSES: Final = frozenset({"4", "8", "9", "11", "14", "19", "23", "32", "101"})
OPTED_OUT: Final = "102"  # also puts the number on the route's denylist
_THROTTLE_WAIT = re.compile(r"wait\s*\[\s*(\d+)\s*\]")
_DEFAULT_429_WAIT_S: Final = 0.5  # nexmo-node's default for POST without Retry-After


def vonage_blame(exc: ProviderError) -> Blame:
    """Whose fault a Vonage answer is (status 1 is throttling: the same route, after its wait)."""
    return blame_by_code(exc, number=NUMBER_STATUSES, route=ROUTE_STATUSES, throttled=frozenset({"1"}),
                         destination=DESTINATION_STATUSES, country=COUNTRY_STATUSES)


def credentials(settings: Settings, form: Mapping[str, str], now: float | None = None) -> dict[str, str]:
    """``form`` with the key and the secret, or signed (``timestamp`` + ``sig``) when so configured.

    Empty values are dropped first: a signature must cover exactly what is sent (§A.6).
    """
    out = {name: value for name, value in form.items() if value}
    out["api_key"] = settings.api_key
    if settings.api_signature_secret:
        out["timestamp"] = str(int(time.time() if now is None else now))
        out["sig"] = sign(out, settings.api_signature_secret, settings.api_signature_method)
    else:
        out["api_secret"] = settings.api_secret
    return out


def throttle_wait_s(error_text: str | None) -> float | None:
    """The wait in ``please wait [ 978 ] and retry``, in seconds."""
    if not error_text:
        return None
    match = _THROTTLE_WAIT.search(error_text)
    return int(match.group(1)) / 1000.0 if match else None


def retry_after_s(value: str | None) -> float:
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass  # an HTTP-date: rare for APIs; fall back to the default
    return _DEFAULT_429_WAIT_S


def classify_status(message: Mapping[str, Any], http_status: int = 200) -> Accepted | None:
    """Raise the provider error for one ``messages[]`` entry; None for status "0"."""
    status = str(message.get("status", "")).strip()
    text = message.get("error-text")
    text = str(text) if text is not None else None
    if status == "0":
        return None
    name = STATUS_NAMES.get(status, "Undocumented status")
    detail = f"provider status {status} ({name})" + (f": {text}" if text else "")
    if status in TRANSIENT_STATUSES:
        wait = throttle_wait_s(text) if status == "1" else None
        raise TransientProviderError(detail, status=status, http_status=http_status, retry_after=wait)
    raise PermanentProviderError(detail, status=status, http_status=http_status)


def check_http(response: requests.Response) -> None:
    """Raise for any answer but a 200 (429/5xx transient, 502/504 unconfirmed, 401 and the rest
    permanent)."""
    code = response.status_code
    if code == 429:
        wait = retry_after_s(response.headers.get("Retry-After"))
        raise TransientProviderError("HTTP 429 from provider", http_status=code, retry_after=wait)
    if code in GATEWAY_STATUSES:  # a gateway that may have forwarded the request: the PIN may be out
        raise UnconfirmedSendError(f"HTTP {code} from a gateway (it may have forwarded it)", http_status=code)
    if code >= 500:
        raise TransientProviderError(f"HTTP {code} from provider", http_status=code)
    if code == 401:
        raise PermanentProviderError("HTTP 401: provider refused the credentials", http_status=401)
    if code != 200:
        raise PermanentProviderError(f"unexpected HTTP {code} from provider", http_status=code)


def _messages(response: requests.Response) -> list[dict[str, Any]]:
    try:
        messages = response.json()["messages"]
        if not isinstance(messages, list) or not messages:
            raise TypeError("messages is empty")
        if not all(isinstance(m, dict) for m in messages):
            raise TypeError("messages entries are not objects")
    except (ValueError, KeyError, TypeError) as exc:
        # A 200 we cannot read: the provider may have accepted it. Not resent.
        snippet = response.text[:80].replace("\n", " ")
        raise UnconfirmedSendError(
            f"unreadable provider response ({exc}): {snippet!r}", http_status=response.status_code
        ) from None
    return messages


def parse_response(response: requests.Response, latency_s: float) -> Accepted:
    """Turn an HTTP answer into :class:`Accepted` or a typed provider error (rules above)."""
    check_http(response)
    messages = _messages(response)
    ids: list[str] = []
    refused: list[ProviderError] = []
    unknown = 0  # parts that may be out: no status, or status 0 without an id
    for part in messages:
        if str(part.get("status") or "").strip() == "":
            unknown += 1
            continue
        try:
            classify_status(part)
        except ProviderError as exc:
            refused.append(exc)
            continue
        if part.get("message-id"):
            ids.append(str(part["message-id"]))
        else:
            unknown += 1
    if refused and not ids and not unknown:
        raise refused[0]
    if refused or unknown:
        raise UnconfirmedSendError(_unconfirmed_text(len(messages), ids, refused, unknown),
                                   status="partial" if ids else "0", http_status=200,
                                   message_id=",".join(ids) or None)
    first = messages[0]
    return Accepted(
        message_id=ids[0], status="0", network=_opt_str(first.get("network")),
        price=_opt_str(first.get("message-price")),
        remaining_balance=_opt_str(first.get("remaining-balance")),
        latency_s=latency_s, message_ids=tuple(ids) if len(ids) > 1 else (),
    )


def _unconfirmed_text(parts: int, ids: list[str], refused: list[ProviderError], unknown: int) -> str:
    if parts == 1 and unknown:
        return "provider said status 0 without a message-id, or gave no status: the PIN may be out"
    detail = f"; first refusal: {refused[0]}" if refused else ""
    return (f"partial answer: {len(ids)} of {parts} parts accepted, {len(refused)} refused, "
            f"{unknown} without a status or id{detail}; not resent")


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
