"""The provider's 2FA endpoint, spoken over HTTP, with every answer classified.

This module decides *what happened*: an :class:`Accepted` submission, or one of
the :mod:`worker.errors` provider exceptions. It never retries and never
sleeps; :mod:`worker.send.retry` decides what to do about each type.

The one place a PIN could be sent twice is a failure *after* the request was
written (read timeout, connection dropped mid-answer, an unreadable 200): those
raise :class:`UnconfirmedSendError` rather than a transient error, so nothing
resends them blindly.
"""

from __future__ import annotations

import platform
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import requests
from requests.adapters import HTTPAdapter

from worker import constants as c
from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import (
    PermanentProviderError,
    TransientProviderError,
    UnconfirmedSendError,
)

USER_AGENT: Final = f"pinrelay/{c.VERSION} python/{platform.python_version()}"

# docs/provider-api.md §3: the codes worth retrying; every other code (documented or not) is permanent.
TRANSIENT_STATUSES: Final = frozenset({"1", "5", "10", "13"})
STATUS_NAMES: Final = {
    "0": "Success",
    "1": "Throttled",
    "2": "Missing Parameters",
    "3": "Invalid Parameters",
    "4": "Invalid Credentials",
    "5": "Internal Error",
    "6": "Invalid Message",
    "7": "Number Barred",
    "8": "Partner Account Barred",
    "9": "Partner Quota Violation",
    "10": "Too Many Existing Binds",
    "11": "Account Not Enabled For HTTP/REST",
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
    "34": "Invalid Or Missing Msisdn Param",
    "101": "Invalid Account Campaign",
    "102": "Msisdn Opted Out For Campaign",
}
_THROTTLE_WAIT = re.compile(r"wait\s*\[\s*(\d+)\s*\]")
_DEFAULT_429_WAIT_S: Final = 0.5  # nexmo-node's default for POST without Retry-After


@dataclass(frozen=True, slots=True)
class Accepted:
    """The provider took the message (status 0); delivery is the receipt's business."""

    message_id: str
    status: str
    network: str | None
    price: str | None
    remaining_balance: str | None
    latency_s: float


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
        raise TransientProviderError(
            detail, status=status, http_status=http_status, retry_after=wait
        )
    raise PermanentProviderError(detail, status=status, http_status=http_status)


def parse_response(response: requests.Response, latency_s: float) -> Accepted:
    """Turn an HTTP answer into :class:`Accepted` or a typed provider error."""
    code = response.status_code
    if code == 429:
        raise TransientProviderError(
            "HTTP 429 from provider",
            http_status=code,
            retry_after=retry_after_s(response.headers.get("Retry-After")),
        )
    if code in (502, 504):  # a gateway that may have forwarded the request: the PIN may be out
        raise UnconfirmedSendError(f"HTTP {code} from a gateway (it may have forwarded it)", http_status=code)
    if code >= 500:
        raise TransientProviderError(f"HTTP {code} from provider", http_status=code)
    if code == 401:
        raise PermanentProviderError("HTTP 401: provider refused the credentials", http_status=401)
    if code != 200:
        raise PermanentProviderError(f"unexpected HTTP {code} from provider", http_status=code)
    try:
        body = response.json()
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise TypeError("messages is empty")
        if not all(isinstance(m, dict) for m in messages):
            raise TypeError("messages entries are not objects")
    except (ValueError, KeyError, TypeError) as exc:
        # A 200 we cannot read: the provider may have accepted it. Not resent.
        snippet = response.text[:80].replace("\n", " ")
        raise UnconfirmedSendError(
            f"unreadable provider response ({exc}): {snippet!r}", http_status=code
        ) from None
    for part in messages:
        classify_status(part)
    first = messages[0]
    message_id = first.get("message-id")
    if not message_id:
        raise UnconfirmedSendError("provider said status 0 without a message-id", status="0")
    return Accepted(
        message_id=str(message_id),
        status="0",
        network=_opt_str(first.get("network")),
        price=_opt_str(first.get("message-price")),
        remaining_balance=_opt_str(first.get("remaining-balance")),
        latency_s=latency_s,
    )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def new_session() -> requests.Session:
    """The session rules of every call that carries ``api_secret`` (2FA sends, conversions).

    No proxy or ``.netrc`` lookups in the environment: the provider host is configured
    explicitly, a proxy variable must not reroute the secret, and the lookup costs ~10% of a
    send's CPU. No transport-level retries: retrying is worker.send.retry's decision alone.
    Callers pass ``allow_redirects=False``: a 3xx is an error, never the secret re-posted to
    wherever ``Location`` points.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection failed before any byte of the request left."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return any(
        marker in text
        for marker in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError")
    )


class ProviderClient:
    """One keep-alive session per worker process; thread-safe enough for one task at a time.

    A ``session`` passed in (tests) lends its adapters, headers and TLS settings; requests
    are prepared here, so its auth, cookies and hooks are not applied.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self._settings = settings
        self._timeout = (settings.connect_timeout_s, settings.read_timeout_s)
        self._session = session or self._new_session()
        self._headers = dict(self._session.headers)

    @staticmethod
    def _new_session() -> requests.Session:
        return new_session()

    def close(self) -> None:
        self._session.close()

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        """POST one 2FA request; raise a provider error unless status "0" came back."""
        form: dict[str, str] = dict(request.params)
        form.update(
            api_key=self._settings.api_key,
            api_secret=self._settings.api_secret,
            to=request.to,
            pin=request.pin,
        )
        if client_ref:
            form["client-ref"] = client_ref
        started = time.perf_counter()
        try:
            # Prepared here rather than by Session.post: the session has no cookies, auth or
            # proxies to merge in, and skipping that merge is ~0.25 ms of CPU per send. A
            # redirect is not followed: a 2FA POST that moved is an error, not a GET elsewhere.
            prepared = requests.PreparedRequest()
            prepared.prepare(method="POST", url=self._settings.twofa_url, headers=self._headers, data=form)
            response = self._session.send(prepared, timeout=self._timeout, allow_redirects=False)
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise TransientProviderError(
                    f"cannot connect to provider: {type(exc).__name__}"
                ) from None
            raise UnconfirmedSendError(
                f"connection lost after the request was sent: {type(exc).__name__}"
            ) from None
        except requests.Timeout:
            raise UnconfirmedSendError(
                f"no answer within {self._settings.read_timeout_s}s after the request was sent"
            ) from None
        except requests.RequestException as exc:
            raise PermanentProviderError(f"request not possible: {type(exc).__name__}") from None
        return parse_response(response, time.perf_counter() - started)
