"""Counting a conversion for the pumping guard: the evidence that a prefix's PINs reach people.

A prefix is judged by the share of its judged sends that converted (worker/lua/guard.lua). A
conversion is counted here when :meth:`Producer.report_conversion` enqueues it (a verification's
approved check calls it), and again by the worker that runs ``pinrelay.report_conversion``
(which a ``send_task`` may enqueue directly), before the provider is told: neither a stopped
callbacks worker nor a provider outage loses the evidence. worker/lua/guard_convert.lua
counts it once per send, and only for a send the guard judged and still holds in its window.
"""

from __future__ import annotations

import time
from typing import Final

import redis

from worker import constants as c
from worker import lua
from worker.config import Settings

__all__ = ["count_conversion"]

GUARD_CONVERT: Final = lua.script("guard_convert")


def count_conversion(client: redis.Redis, settings: Settings, request_id: str,
                     now: float | None = None) -> bool:
    """Count the send's conversion for its prefix; whether it counted (see the module)."""
    at = time.time() if now is None else now
    prefix = settings.key_prefix
    counted = client.register_script(GUARD_CONVERT)(
        keys=[f"{prefix}{c.KEY_RECORD}{request_id}", f"{prefix}{c.KEY_STATS}"],
        args=[prefix, int(at * 1000), settings.guard_window_s * 1000])
    return bool(counted)
