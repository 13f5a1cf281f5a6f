"""The provider routes, one module each, and the registry that builds them from the settings.

============  =============================================  ==============================
route         module                                         receipts
============  =============================================  ==============================
``sc2fa``     :mod:`.sc2fa` short-code 2FA (the default)     ``/delivery-receipt-webhook``
``sms``       :mod:`.sms` Vonage SMS API                     ``/delivery-receipt-webhook``
``twilio``    :mod:`.twilio` Twilio Messaging                ``/twilio-status-webhook``
``messages``  :mod:`.messages` Vonage Messages API           ``/messages-status-webhook``
============  =============================================  ==============================

:func:`check_routes` runs when a worker registers its tasks: each route in
``PINRELAY_ROUTES`` must have its settings (:meth:`Settings.check_for_routes`, the error
names the first variable missing), a template that fits one SMS (with the autofill lines)
and, for ``messages`` with an application, a private key that loads, so a route never fails on
its set-up at send time.
"""

from __future__ import annotations

from collections.abc import Callable

from worker.config import ROUTE_NAMES, Settings
from worker.send.routes.base import Blame, Route
from worker.send.routes.messages import MessagesRoute, load_private_key
from worker.send.routes.sc2fa import Sc2faRoute
from worker.send.routes.sms import SmsRoute
from worker.send.routes.templates import Templates
from worker.send.routes.twilio import TwilioRoute
from worker.send.transport import Transport

__all__ = ["ROUTE_NAMES", "Blame", "Route", "build_routes", "check_routes"]

TEXT_ROUTES = frozenset({"sms", "twilio", "messages"})  # the routes that send our text (templates)


def check_routes(settings: Settings) -> None:
    """Refuse a route list whose routes lack their settings or whose template does not fit."""
    settings.check_for_routes()
    if set(settings.routes) & TEXT_ROUTES:
        Templates.from_settings(settings)  # raises naming the template that does not fit
    if "messages" in settings.routes and settings.vonage_private_key:
        load_private_key(settings.vonage_private_key)  # raises naming the variable


def build_routes(settings: Settings, transport: Transport) -> dict[str, Route]:
    """The configured routes, in failover order, sharing one transport (and one session)."""
    check_routes(settings)
    templates = Templates.from_settings(settings) if set(settings.routes) & TEXT_ROUTES else None

    def text() -> Templates:
        return templates or Templates.from_settings(settings)

    makers: dict[str, Callable[[], Route]] = {
        "sc2fa": lambda: Sc2faRoute(settings, transport),
        "sms": lambda: SmsRoute(settings, transport, text()),
        "twilio": lambda: TwilioRoute(settings, transport, text()),
        "messages": lambda: MessagesRoute(settings, transport, text()),
    }
    return {name: makers[name]() for name in settings.routes}
