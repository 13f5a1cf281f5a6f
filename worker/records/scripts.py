"""The record scripts, loaded from :mod:`worker.lua`: each read-check-write on a record is
one atomic step in Redis.

The Lua lives in ``worker/lua/<name>.lua`` (each file's header gives its KEYS, ARGV and
reply); the claim, finish and lost-task sweep run after the shared prelude, which carries
the transition table of :mod:`worker.states`, so Redis enforces the same rules as Python.
These names are what :class:`worker.records.store.RecordStore` registers.
"""

from __future__ import annotations

from typing import Final

from worker import lua

CREATE: Final = lua.script("create")
CLAIM: Final = lua.script("claim")
FINISH: Final = lua.script("finish")
REPLAY: Final = lua.script("replay")
SWEEP_PENDING: Final = lua.script("sweep_pending")
