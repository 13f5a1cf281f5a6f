"""The provider simulator: Vonage's US short-code 2FA API and SMS API, conversions and DLRs,
and Twilio's Messages API with signed status callbacks; scripted and random faults per route.

Layout: ``http/`` (server, route table, params), ``vonage/`` (2FA, SMS API,
conversions, the account), ``twilio/`` (the Messages API), ``receipts/`` (outcome
mix, DLR and callback plans, the dispatcher); shared at the top: config and
knobs, faults, throttle, the ledger, the per-route pipeline (``endpoint``).

Public surface:

* :class:`Simulator` - start/stop, ``url``, ``configure``, ``requests``, ``stats``,
  ``receipts``, ``conversions``, ``reset``, ``wait_receipts_idle``
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
