"""The short-code 2FA route (docs/provider-api.md §1-§3): ``POST {PINRELAY_API_URL}/sc/us/2fa/json``.

The default route and pinrelay's first: the provider holds the message template, we
send ``to``, ``pin``, the caller's template params and ``client-ref``. Closed to new
programmes at the provider ("Status of the product"), so a new deployment lists
``sms`` or ``twilio`` in ``PINRELAY_ROUTES`` too. Status 101 (no valid campaign) is
the route's fault; 102 (opted out) the number's, and it denylists the number here.
"""

from __future__ import annotations

from typing import Final

from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import ProviderError
from worker.send.routes.base import VONAGE_DLR, Accepted, Blame, HttpCall
from worker.send.routes.vonage import credentials, parse_response, vonage_blame
from worker.send.transport import Transport


class Sc2faRoute:
    """Builds the 2FA form, reads the answer with the Vonage rules (:mod:`.vonage`)."""

    name: Final = "sc2fa"
    receipt_format: Final = VONAGE_DLR

    def __init__(self, settings: Settings, transport: Transport) -> None:
        self._settings = settings
        self._transport = transport

    def build(self, request: SendRequest, client_ref: str | None) -> HttpCall:
        form: dict[str, str] = dict(request.params)
        form.update(to=request.to, pin=request.pin)
        if client_ref:
            form["client-ref"] = client_ref
        return HttpCall(self._settings.twofa_url, credentials(self._settings, form))

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        response, latency = self._transport.send(self.build(request, client_ref))
        return parse_response(response, latency)

    def blame(self, exc: ProviderError) -> Blame:
        return vonage_blame(exc)
