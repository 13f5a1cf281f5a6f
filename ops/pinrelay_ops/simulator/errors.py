"""The simulator's exceptions, under pinrelay's one root.

::

    PinrelayError                (worker.errors)
    └── SimulatorError           anything the simulator raises on purpose
        ├── SimConfigError       a knob has an unknown name or a bad value (named in the message)
        └── FaultSpecError       a fault-script entry such as ``"http:5x3"`` cannot be parsed
"""

from __future__ import annotations

from worker.errors import PinrelayError


class SimulatorError(PinrelayError):
    """Root of every error the provider simulator raises on purpose."""


class SimConfigError(SimulatorError, ValueError):
    """A knob has an unknown name or a value of the wrong type or range."""


class FaultSpecError(SimConfigError):
    """A fault spec (script entry or ``error_rates`` key) is malformed."""
