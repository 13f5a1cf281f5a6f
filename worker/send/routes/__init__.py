"""The provider routes, one module each, and the registry that builds them from the settings.

=========  ==========================================  ==============================
route      module                                      receipts
=========  ==========================================  ==============================
``sc2fa``  :mod:`.sc2fa` short-code 2FA (the default)  ``/delivery-receipt-webhook``
``sms``    :mod:`.sms` Vonage SMS API                  ``/delivery-receipt-webhook``
``twilio`` :mod:`.twilio` Twilio Messaging             ``/twilio-status-webhook``
=========  ==========================================  ==============================

:func:`check_routes` runs at start (every process that builds the Celery app): each
route in ``PINRELAY_ROUTES`` must have its settings, and the error names the first
variable missing, so a route never fails on its set-up at send time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from worker.config import ROUTE_NAMES, Settings
from worker.errors import ConfigError
from worker.send.routes.base import Blame, Route
from worker.send.routes.sc2fa import Sc2faRoute
from worker.send.routes.sms import SmsRoute
from worker.send.routes.templates import Templates
from worker.send.routes.twilio import TwilioRoute
from worker.send.transport import Transport

__all__ = ["ROUTE_NAMES", "Blame", "Route", "build_routes", "check_routes", "required_settings"]

#: route -> (settings attribute, variable) it cannot work without; a tuple of pairs means one of them
_REQUIRED: Final[Mapping[str, tuple[tuple[tuple[str, str], ...], ...]]] = {
    "sc2fa": (),
    "sms": ((("sms_from", "PINRELAY_SMS_FROM"),),),
    "twilio": (
        (("twilio_account_sid", "PINRELAY_TWILIO_ACCOUNT_SID"),),
        (("twilio_auth_token", "PINRELAY_TWILIO_AUTH_TOKEN"),),
        (("twilio_from", "PINRELAY_TWILIO_FROM"),
         ("twilio_messaging_service_sid", "PINRELAY_TWILIO_MESSAGING_SERVICE_SID")),
        (("twilio_status_url", "PINRELAY_TWILIO_STATUS_URL"),),
    ),
}


def required_settings(route: str) -> list[str]:
    """The variables ``route`` needs, as the error and the README name them."""
    return [" or ".join(var for _, var in group) for group in _REQUIRED[route]]


def check_routes(settings: Settings) -> None:
    """Refuse a route list whose routes lack their settings; the error names the variable."""
    for route in settings.routes:
        for group in _REQUIRED[route]:
            if not any(getattr(settings, attr) for attr, _ in group):
                needed = " or ".join(var for _, var in group)
                raise ConfigError(f"PINRELAY_ROUTES includes {route}, which needs {needed}")
    if any(route in ("sms", "twilio") for route in settings.routes):
        Templates.from_settings(settings)  # raises naming the template that does not fit


def build_routes(settings: Settings, transport: Transport) -> dict[str, Route]:
    """The configured routes, in failover order, sharing one transport (and one session)."""
    check_routes(settings)
    templates = Templates.from_settings(settings) if set(settings.routes) - {"sc2fa"} else None
    makers: dict[str, Callable[[], Route]] = {
        "sc2fa": lambda: Sc2faRoute(settings, transport),
        "sms": lambda: SmsRoute(settings, transport, templates or Templates(settings.sms_template)),
        "twilio": lambda: TwilioRoute(settings, transport, templates or Templates(settings.sms_template)),
    }
    return {name: makers[name]() for name in settings.routes}
