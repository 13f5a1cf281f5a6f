"""`pinrelay demo --route NAME`: the settings that point one provider route at the local simulator.

The simulator speaks all four routes with its own demo account (``ops/pinrelay_ops/simulator/config.py``),
so the demo needs no credentials of its own: ``sc2fa`` and ``sms`` use the Vonage key and
secret pinrelay defaults to, ``twilio`` the simulator's account SID, token and number, with
its status callbacks sent to this demo's receiver. ``messages`` signs its requests as the
simulator's demo application, whose private key the simulator writes to a file
(``--vonage-private-key-out``), and its status webhooks are signed with a fresh 32-byte
signature secret (PyJWT's minimum for HS256) that the receiver checks. North American
numbers refuse an alphanumeric sender (status 15), so the SMS sender is a number.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Final

from pinrelay_ops.simulator.config import (
    DEFAULT_APPLICATION_ID,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
    DEFAULT_TWILIO_FROM,
)
from webhook.twilio.status import TWILIO_STATUS_PATH
from worker.config import Settings
from worker.errors import ConfigError

DEMO_SMS_FROM: Final = "12015550123"
KEY_FILE_WAIT_S: Final = 10.0


def on_simulator(settings: Settings, route: str, sim_port: int, webhook_port: int) -> Settings:
    """``settings`` sending every PIN over ``route`` to the simulator, receipts to the receiver."""
    sim_url, webhook_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{webhook_port}"
    settings = settings.replace(
        routes=(route,),
        api_url=sim_url,
        conversion_url=sim_url,
        messages_url=sim_url,
        sms_from=settings.sms_from or DEMO_SMS_FROM,
        twilio_url=sim_url,
        twilio_account_sid=DEFAULT_TWILIO_ACCOUNT_SID,
        twilio_auth_token=DEFAULT_TWILIO_AUTH_TOKEN,
        twilio_from=DEFAULT_TWILIO_FROM,
        twilio_status_url=f"{webhook_url}{TWILIO_STATUS_PATH}",
    )
    if route == "messages":  # its webhooks are signed: a secret of the demo's own, never the operator's
        settings = settings.replace(signature_secret=secrets.token_hex(16), vonage_application_id=None,
                                    vonage_private_key=None)
    return settings


def simulator_args(settings: Settings, key_file: Path) -> list[str]:
    """What `pinrelay sim` needs for ``settings``' route: for ``messages``, sign with its secret and
    write the demo application's private key to ``key_file``."""
    if settings.routes != ("messages",) or not settings.signature_secret:
        return []
    return ["--signature-secret", settings.signature_secret, "--signature-method", settings.signature_method,
            "--vonage-private-key-out", str(key_file)]


def with_application(settings: Settings, key_file: Path, wait_s: float = KEY_FILE_WAIT_S) -> Settings:
    """``settings`` signing as the simulator's demo application, once it has written ``key_file``."""
    if settings.routes != ("messages",):
        return settings
    deadline = time.monotonic() + wait_s
    while not (key_file.exists() and key_file.stat().st_size):
        if time.monotonic() > deadline:
            raise ConfigError(f"the simulator did not write its application key to {key_file}")
        time.sleep(0.05)
    return settings.replace(vonage_application_id=DEFAULT_APPLICATION_ID, vonage_private_key=str(key_file))
