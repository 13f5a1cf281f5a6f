"""The receipt side's scripts, loaded from :mod:`worker.lua`: matching receipts to sends,
and giving up on early ones.

They run after the same prelude (the transition table, ``apply``, ``park``) as the send
side, whose FINISH applies receipts that arrived before the message-id was recorded; what
only the correlator runs is here (``worker/lua/correlate.lua``, ``sweep_parked.lua``).
"""

from __future__ import annotations

from typing import Final

from worker import lua

CORRELATE: Final = lua.script("correlate")
SWEEP_PARKED: Final = lua.script("sweep_parked")
