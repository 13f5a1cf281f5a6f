"""The provider simulator: Vonage's US short-code 2FA API and SMS API, conversions and DLRs,
Twilio's Messages API with signed status callbacks, and the Vonage Messages API (SMS channel)
with JWT-signed status webhooks; scripted and random faults per route.

Layout: ``http/`` (server, route table, params), ``vonage/`` (2FA, SMS API,
conversions, the account), ``twilio/`` (Twilio's Messages API), ``messages/`` (the
Vonage Messages API: auth and keys, checks, answers, webhooks), ``receipts/`` (outcome
mix, DLR, callback and webhook plans, validity expiry, the dispatcher); shared at the
top: config and knobs, faults, throttle, the ledger, the per-route pipeline (``endpoint``).

Public surface:

* :class:`Simulator` - start/stop, ``url``, ``configure``, ``requests``, ``stats``,
  ``receipts``, ``conversions``, ``reset``, ``wait_receipts_idle``,
  ``demo_private_key_pem``, ``messages_application``
* :class:`SimConfig` - every knob, with its default
* errors: :class:`SimulatorError` (root), :class:`SimConfigError`, :class:`FaultSpecError`
"""

from __future__ import annotations

from .config import SimConfig
from .errors import FaultSpecError, SimConfigError, SimulatorError
from .simulator import Simulator

__all__ = [
    # the simulator and its knobs
    "SimConfig",
    "Simulator",
    # errors
    "FaultSpecError",
    "SimConfigError",
    "SimulatorError",
]
