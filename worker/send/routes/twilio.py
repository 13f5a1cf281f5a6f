"""The Twilio Programmable Messaging route (docs/provider-routes.md §B.1-§B.3).

``POST {PINRELAY_TWILIO_URL}/2010-04-01/Accounts/{sid}/Messages.json`` with Basic auth
(account SID and auth token), ``To`` in E.164 with ``+``, ``From`` (or
``MessagingServiceSid``), ``Body`` from the SMS template and ``StatusCallback`` =
``PINRELAY_TWILIO_STATUS_URL``, where ``webhook/twilio/status.py`` takes the signed
callbacks, and ``ValidityPeriod``: what is left of the PIN's lifetime in seconds (1..36000,
§V; Twilio's default is 10 h), so a queued message is dropped with the code (``failed``
30036, our ``expired``). Twilio has no client-ref: the callbacks find the send by its
``MessageSid``.

Answers: a 2xx with the message resource (its ``sid`` is the message-id; a 2xx we
cannot read is unconfirmed, the message may exist); 429 and 5xx transient; any other
status carries Twilio's error JSON, whose ``code`` says whose fault it is (§B.3, §C).
"""

from __future__ import annotations

from typing import Any, Final

import requests

from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import PermanentProviderError, ProviderError, TransientProviderError, UnconfirmedSendError
from worker.send.routes.base import (
    GATEWAY_STATUSES,
    TWILIO_STATUS,
    Accepted,
    Blame,
    HttpCall,
    blame_by_code,
    validity_s,
)
from worker.send.routes.templates import Templates
from worker.send.routes.vonage import retry_after_s
from worker.send.transport import Transport

API_VERSION: Final = "2010-04-01"
VALIDITY_RANGE_S: Final = (1, 36_000)  # `ValidityPeriod` (the Twilio spec)
#: invalid or non-mobile `To`, a short code, a landline, opted out: no route helps
NUMBER_CODES: Final = frozenset({"21211", "21265", "21610", "21614", "21635"})
#: this number on this route: the To/From pair cannot be routed (21612), a trial account's
#: unverified recipient (21608): another route may reach it; no breaker opens
DESTINATION_CODES: Final = frozenset({"21608", "21612"})
#: the number's country is not enabled on this account (geo permissions): counts toward the
#: (twilio, country) breaker
COUNTRY_CODES: Final = frozenset({"21408"})
#: credentials, account, sender, service, callback URL: every send fails here
ROUTE_CODES: Final = frozenset({"20003", "20404", "21603", "21606", "21609", "21701"})
#: never processed or queue full: not accepted, safe to send elsewhere
TRANSIENT_CODES: Final = frozenset({"20429", "21611"})


class TwilioRoute:
    """Builds the Messages call; reads the created message or Twilio's error JSON."""

    name: Final = "twilio"
    receipt_format: Final = TWILIO_STATUS

    def __init__(self, settings: Settings, transport: Transport, templates: Templates) -> None:
        sid, token = settings.twilio_account_sid, settings.twilio_auth_token
        if not sid or not token:
            raise ValueError("the twilio route needs its account SID and auth token (checked at start)")
        self._auth = (sid, token)
        self._settings = settings
        self._transport = transport
        self._templates = templates
        self._url = f"{settings.twilio_url}/{API_VERSION}/Accounts/{sid}/Messages.json"

    def build(self, request: SendRequest, client_ref: str | None) -> HttpCall:
        settings = self._settings
        form = {"To": "+" + request.to, "Body": self._templates.render(request.to, request.pin)}
        if settings.twilio_from:
            form["From"] = settings.twilio_from
        elif settings.twilio_messaging_service_sid:
            form["MessagingServiceSid"] = settings.twilio_messaging_service_sid
        if settings.twilio_status_url:
            form["StatusCallback"] = settings.twilio_status_url
        validity = validity_s(request, *VALIDITY_RANGE_S)
        if validity is not None:
            form["ValidityPeriod"] = str(validity)
        return HttpCall(self._url, form, auth=self._auth)

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        response, latency = self._transport.send(self.build(request, client_ref))
        return parse_answer(response, latency)

    def blame(self, exc: ProviderError) -> Blame:
        return blame_by_code(exc, number=NUMBER_CODES, route=ROUTE_CODES, throttled=frozenset(),
                             destination=DESTINATION_CODES, country=COUNTRY_CODES)


def parse_answer(response: requests.Response, latency_s: float) -> Accepted:
    """The created message as :class:`Accepted`, or the provider error its status and code mean."""
    status = response.status_code
    if 200 <= status < 300:
        body = _json(response) or {}
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            snippet = response.text[:80].replace("\n", " ")
            raise UnconfirmedSendError(f"unreadable Twilio answer (HTTP {status}): {snippet!r}",
                                       http_status=status)
        return Accepted(message_id=sid, status=str(body.get("status") or "queued"), network=None,
                        price=_price(body.get("price")), remaining_balance=None, latency_s=latency_s)
    body = _json(response) or {}
    code = str(body["code"]) if isinstance(body.get("code"), int | str) and body.get("code") else None
    text = f"Twilio HTTP {status}" + (f" code {code}" if code else "")
    if body.get("message"):
        text += f": {body['message']}"
    if status in GATEWAY_STATUSES:  # a gateway that may have forwarded it: the SMS may be out
        raise UnconfirmedSendError(f"{text} from a gateway (it may have forwarded it)", http_status=status)
    if status == 429 or status >= 500 or code in TRANSIENT_CODES:
        wait = retry_after_s(response.headers.get("Retry-After")) if status == 429 else None
        raise TransientProviderError(text, status=code, http_status=status, retry_after=wait)
    raise PermanentProviderError(text, status=code, http_status=status)


def _json(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _price(value: object) -> str | None:
    """Twilio's ``price`` as a cost: it reports a charge as a negative amount (``"-0.00750"``),
    the guard's spend adds costs; None while Twilio has not priced the message (at creation)."""
    try:
        return None if value is None else f"{abs(float(str(value))):g}"
    except ValueError:
        return None
