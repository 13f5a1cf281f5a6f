"""The receipt status mix: which final DLR status (and err-code) each accepted send gets.

Weights are relative (``delivered=90, failed=5`` is the same as ``18, 1``). The
err-codes come from docs/provider-api.md §4: ``delivered`` and ``accepted`` carry ``0``;
failures carry a random non-zero code from the documented table, with
``expired`` drawn from the temporary ones (absent, busy, network) as carriers do.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Final

from ..errors import SimConfigError

#: Statuses a send can end on; ``accepted`` means "no final DLR ever came".
OUTCOMES: Final = ("delivered", "accepted", "failed", "expired", "rejected", "unknown")
DEFAULT_MIX: Final[Mapping[str, float]] = {
    "delivered": 94.0,
    "accepted": 1.0,
    "failed": 2.0,
    "expired": 1.0,
    "rejected": 1.0,
    "unknown": 1.0,
}
FAILURE_ERR_CODES: Final = (
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "99",
)
EXPIRED_ERR_CODES: Final = ("2", "7", "8")
_ERR_CODES: Final[Mapping[str, tuple[str, ...]]] = {
    "delivered": ("0",),
    "accepted": ("0",),
    "failed": FAILURE_ERR_CODES,
    "rejected": FAILURE_ERR_CODES,
    "expired": EXPIRED_ERR_CODES,
    "unknown": ("1",),
}


def check_mix(mix: Mapping[str, float]) -> dict[str, float]:
    """Validate weights: known statuses, non-negative numbers, a positive total."""
    checked: dict[str, float] = {}
    for status, weight in mix.items():
        if status not in OUTCOMES:
            raise SimConfigError(f"dlr_mix status {status!r} unknown; use {', '.join(OUTCOMES)}")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise SimConfigError(f"dlr_mix[{status!r}] = {weight!r}: must be a number >= 0")
        checked[status] = float(weight)
    if sum(checked.values()) <= 0:
        raise SimConfigError(f"dlr_mix {dict(mix)!r}: weights must add up to more than 0")
    return checked


def parse_mix(text: str) -> dict[str, float]:
    """``"delivered=90,failed=5"`` (the CLI form) -> a checked mix."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        status, sep, weight = part.partition("=")
        try:
            if not sep:
                raise ValueError(part)
            mix[status.strip()] = float(weight)
        except ValueError:
            raise SimConfigError(f"mix entry {part!r}: expected status=weight") from None
    return check_mix(mix)


def pick_outcome(mix: Mapping[str, float], rng: random.Random) -> tuple[str, str]:
    """``(status, err-code)`` drawn from ``mix``."""
    statuses = [s for s, w in mix.items() if w > 0]
    status = rng.choices(statuses, weights=[mix[s] for s in statuses])[0]
    return status, rng.choice(_ERR_CODES[status])
