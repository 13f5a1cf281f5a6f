"""How close the last 24 hours came to the guard's quotas and caps: ``pinrelay doctor``'s warning.

The store step notes in ``guard:peak:<hour>`` the highest use ratio each quota reached (once
above one half). A quota used to :data:`WARN_AT` of its limit on an ordinary day will refuse
honest sends on a busier one, so doctor names the setting to raise and its value now.
"""

from __future__ import annotations

from typing import Any, Final

from worker.config import ENV_NAMES, Settings
from worker.guard.keys import QUOTA_SETTINGS
from worker.guard.status import peaks

__all__ = ["headroom", "WARN_AT"]

WARN_AT: Final = 0.8  # within 20% of the limit


def headroom(client: Any, settings: Settings) -> tuple[bool, str]:
    """``(warn, detail)`` for the last 24 hours' peaks."""
    seen = peaks(client, settings.key_prefix)
    near = {quota: used for quota, used in seen.items() if quota in QUOTA_SETTINGS and used >= WARN_AT}
    if not near:
        highest = max(seen.items(), key=lambda kv: kv[1], default=None)
        shown = "" if highest is None else f" (the highest: {highest[0]} at {highest[1]:.0%})"
        return False, f"no quota or cap of the guard came within 20% of its limit in the last 24 h{shown}"
    attribute = {suffix: name for name, suffix in ENV_NAMES.items()}
    parts = []
    for quota, used in sorted(near.items(), key=lambda kv: -kv[1]):
        variable = QUOTA_SETTINGS[quota]
        value = getattr(settings, attribute.get(variable.removeprefix("PINRELAY_"), ""), None)
        now = "" if value is None else f" (now {','.join(value) if isinstance(value, tuple) else value})"
        parts.append(f"{quota} reached {used:.0%} of its limit: raise {variable}{now}")
    return True, "in the last 24 h " + "; ".join(parts) + ", or honest sends will be refused on a busier day"
