"""`pinrelay demo --route NAME`: the settings that point one provider route at the local simulator.

The simulator speaks all three routes with its own demo account (``ops/pinrelay_ops/simulator/config.py``),
so the demo needs no credentials of its own: ``sc2fa`` and ``sms`` use the Vonage key and
secret pinrelay defaults to, ``twilio`` the simulator's account SID, token and number, with
its status callbacks sent to this demo's receiver. North American numbers refuse an
alphanumeric sender (status 15), so the SMS sender is a number.
"""

from __future__ import annotations

from typing import Final

from pinrelay_ops.simulator.config import (
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
    DEFAULT_TWILIO_FROM,
)
from webhook.twilio.status import TWILIO_STATUS_PATH
from worker.config import Settings

DEMO_SMS_FROM: Final = "12015550123"


def on_simulator(settings: Settings, route: str, sim_port: int, webhook_port: int) -> Settings:
    """``settings`` sending every PIN over ``route`` to the simulator, receipts to the receiver."""
    sim_url, webhook_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{webhook_port}"
    return settings.replace(
        routes=(route,),
        api_url=sim_url,
        conversion_url=sim_url,
        sms_from=settings.sms_from or DEMO_SMS_FROM,
        twilio_url=sim_url,
        twilio_account_sid=DEFAULT_TWILIO_ACCOUNT_SID,
        twilio_auth_token=DEFAULT_TWILIO_AUTH_TOKEN,
        twilio_from=DEFAULT_TWILIO_FROM,
        twilio_status_url=f"{webhook_url}{TWILIO_STATUS_PATH}",
    )
