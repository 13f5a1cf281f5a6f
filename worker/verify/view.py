"""How a verification is shown (``get_verification``, ``pinrelay verify status``).

Built from an allow-list, so a field added to the record later (or the ``hash`` of the
current code) is never shown by accident: the code and its HMAC never leave Redis, and
the number is masked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from worker.masking import mask_number
from worker.records.view import iso

__all__ = ["to_public", "SEND_FIELDS"]

SEND_FIELDS: Final = ("state", "message_id", "route", "network", "submitted_at", "receipt_at",
                      "conversion_status")


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def to_public(raw: Mapping[str, str], sends: Sequence[tuple[int, str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The verification ``raw`` with its sends ``(n, request id, public send record)``."""
    attempts = _int(raw.get("attempts"))
    max_attempts = _int(raw.get("max_attempts"))
    state = raw.get("state", "")
    approved_send = _int(raw.get("approved_send"))
    return {
        "id": raw.get("id"),
        "state": state,
        "to": mask_number(raw.get("to", "")),
        "client_ref": raw.get("client_ref") or None,
        "length": _int(raw.get("length")),
        "attempts": attempts,
        "attempts_left": max(0, max_attempts - attempts) if state in ("pending", "approved") else 0,
        "max_attempts": max_attempts,
        "max_sends": _int(raw.get("max_sends")),
        "sends": [
            {"n": n, "request_id": request_id, "approved": n == approved_send,
             **{name: record.get(name) for name in SEND_FIELDS}}
            for n, request_id, record in sends
        ],
        "created_at": iso(raw.get("created_at")),
        "expires_at": iso(raw.get("expires_at")),
        "approved_at": iso(raw.get("approved_at")),
        "ended_at": iso(raw.get("ended_at")),
    }
