"""The provider simulator: Nexmo's US short-code 2FA API, conversions and DLRs, with faults.

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
