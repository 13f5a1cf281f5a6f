"""How a send record is shown: the contract's field list, times as ISO 8601 UTC.

Kept apart from :mod:`worker.records.store`, which decides how records are written: the
field names here are what other services and operators read (``pinrelay status``,
``Producer.get_status``), and a change to them should show up as a change to this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from worker.text import to_text

PUBLIC_FIELDS: Final = (
    "id",
    "to",
    "client_ref",
    "state",
    "message_id",
    "provider_status",
    "error_text",
    "attempts",
    "created_at",
    "submitted_at",
    "receipt_status",
    "err_code",
    "network",
    "price",
    "receipt_at",
    # additions beyond the contract's minimum
    "expires_at",
    "final_at",
    "idempotency_key",
    "conversion_status",
    "conversion_at",
    "replay_of",
    "replayed_as",
    # provider routes: the one that accepted the send (or was tried last), and all tried
    "route",
    "routes_tried",
)
TIME_FIELDS: Final = frozenset(
    {"created_at", "submitted_at", "receipt_at", "expires_at", "final_at", "conversion_at"}
)
INT_FIELDS: Final = frozenset({"attempts"})
LIST_FIELDS: Final = frozenset({"routes_tried"})  # stored comma-separated, shown as a list


def iso(ts: str | float | None) -> str | None:
    if ts in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).isoformat(timespec="milliseconds")
    except (TypeError, ValueError, OverflowError):
        return str(ts)  # not ours to fix here; shown as stored


def to_public(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """The record as the contract shows it: every public field, times in ISO 8601 UTC."""
    data = {to_text(k): to_text(v) for k, v in raw.items()}
    out: dict[str, Any] = {}
    for name in PUBLIC_FIELDS:
        value: Any = data.get(name) or None
        if name in TIME_FIELDS:
            value = iso(value)
        elif name in INT_FIELDS:
            value = int(value or 0)
        elif name in LIST_FIELDS:
            value = value.split(",") if value else []
        out[name] = value
    return out
