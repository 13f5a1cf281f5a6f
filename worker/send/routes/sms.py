"""The Vonage SMS API route (docs/provider-routes.md §A): ``POST {PINRELAY_API_URL}/sms/json``.

We write the text ourselves here (:mod:`.templates`, one SMS, checked at start):
``from`` = ``PINRELAY_SMS_FROM``, ``to``, ``text``, ``client-ref``,
``type=unicode`` only when a character is outside GSM-7 (a GSM-7 text sent as
unicode would halve what one SMS holds), and ``ttl``: what is left of the PIN's
lifetime in milliseconds, within the API's 20 s..7 days (§V), so a carrier never
delivers a dead code (the default is 72 h; the expiry comes back as DLR ``expired``).
The answer, status table, receipts and signatures are the 2FA route's (:mod:`.vonage`),
with one entry per part.
"""

from __future__ import annotations

from typing import Final

from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import ProviderError
from worker.send.routes.base import VONAGE_DLR, Accepted, Blame, HttpCall, validity_s
from worker.send.routes.segments import needs_unicode
from worker.send.routes.templates import Templates
from worker.send.routes.vonage import credentials, parse_response, vonage_blame
from worker.send.transport import Transport

SMS_PATH: Final = "/sms/json"
TTL_RANGE_S: Final = (20, 604_800)  # `ttl` is milliseconds: 20 000..604 800 000 (SMS spec)


class SmsRoute:
    """Builds the SMS API form from the template; reads the answer with the Vonage rules."""

    name: Final = "sms"
    receipt_format: Final = VONAGE_DLR

    def __init__(self, settings: Settings, transport: Transport, templates: Templates) -> None:
        if not settings.sms_from:
            raise ValueError("the sms route needs settings.sms_from (checked at start)")
        self._settings = settings
        self._sender = settings.sms_from
        self._transport = transport
        self._templates = templates
        self._url = settings.api_url + SMS_PATH

    def build(self, request: SendRequest, client_ref: str | None) -> HttpCall:
        text = self._templates.render(request.to, request.pin)
        form = {"from": self._sender, "to": request.to, "text": text}
        if needs_unicode(text):
            form["type"] = "unicode"
        if client_ref:
            form["client-ref"] = client_ref
        validity = validity_s(request, *TTL_RANGE_S)
        if validity is not None:
            form["ttl"] = str(validity * 1000)
        return HttpCall(self._url, credentials(self._settings, form))

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        response, latency = self._transport.send(self.build(request, client_ref))
        return parse_response(response, latency)

    def blame(self, exc: ProviderError) -> Blame:
        return vonage_blame(exc)
