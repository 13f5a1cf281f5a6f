"""Phone numbers as logs and errors may show them: enough to tell apart, never whole.

In the foundation, not in the enqueue stage, because every stage logs numbers and the
receiver must be able to mask one without importing phonenumbers.
"""

from __future__ import annotations

__all__ = ["mask_number"]


def mask_number(number: str) -> str:
    """``16365553226`` -> ``1636555****``: enough to tell numbers apart in logs."""
    if len(number) <= 4:
        return "*" * len(number)
    return number[:-4] + "****"
