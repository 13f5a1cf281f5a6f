"""An operator's changes to the guard: unblock a prefix, add to (or take from) the safe list.

Used by ``pinrelay guard unblock|allow`` and the admin routes of the HTTP API, so both check
input the same way and change the same keys. Each change is one MULTI/EXEC transaction.

``unblock`` removes the block (or, in monitor mode, the would-block entry), its index entry,
and the prefix's window (its judged and converted sends): the operator has judged the prefix
honest, so it starts afresh and the next send goes through; the guard judges it again from
there. ``allow`` adds a prefix or a full number to ``guard:safe``, which the decision path
reads on every judged send: it takes effect at once, on every process.
"""

from __future__ import annotations

import re
from typing import Any, Final

from worker.errors import PinrelayError, ValidationError
from worker.guard import keys as k
from worker.guard.status import entry_of

__all__ = ["NotListedError", "clean_entry", "unblock", "allow", "disallow", "ENTRY_PATTERN"]

# A prefix (a number without its last four digits) or a whole number: E.164 digits, no "+".
ENTRY_PATTERN: Final = r"^[0-9]{4,15}$"
_ENTRY: Final = re.compile(ENTRY_PATTERN)


class NotListedError(PinrelayError, LookupError):
    """The prefix is not blocked, or the entry is not on the safe list (exit 1, HTTP 404)."""


def clean_entry(text: str, field: str = "prefix", *, plus: bool = False) -> str:
    """``text`` as E.164 digits (4-15 of them); ``plus`` lets a leading ``+`` be typed (the CLI)."""
    value = text.strip()
    if plus:
        value = value.removeprefix("+")
    if not _ENTRY.match(value):
        raise ValidationError(field, "must be 4 to 15 digits (E.164 without '+': a prefix is the "
                              "number without its last four digits)")
    return value


def unblock(client: Any, prefix: str, target: str) -> dict[str, Any]:
    """Lift the block (or would-block) of ``target`` and forget its window; what was lifted.

    Raises :class:`NotListedError` when the prefix is neither blocked nor would-be blocked."""
    block_key, would_key = prefix + k.KEY_BLOCK + target, prefix + k.KEY_WOULD_BLOCK + target
    pipe = client.pipeline(transaction=True)
    pipe.hgetall(block_key)
    pipe.hgetall(would_key)
    pipe.delete(block_key, would_key)
    pipe.zrem(prefix + k.KEY_BLOCKED, target)
    pipe.zrem(prefix + k.KEY_WOULD_BLOCKED, target)
    pipe.delete(prefix + k.KEY_PREFIX_SENDS + target, prefix + k.KEY_PREFIX_CONVERSIONS + target)
    block, would, *_ = pipe.execute()
    if not block and not would:
        raise NotListedError(f"prefix {target} is not blocked")
    return {"prefix": target, "unblocked": True, "was": "blocked" if block else "would_block",
            **entry_of(target, block or would)}


def allow(client: Any, prefix: str, entry: str) -> dict[str, Any]:
    """Add ``entry`` to the run-time safe list; ``added`` is False when it was there already."""
    added = bool(client.sadd(prefix + k.KEY_SAFE, entry))
    return {"entry": entry, "safe": True, "added": added}


def disallow(client: Any, prefix: str, entry: str) -> dict[str, Any]:
    """Take ``entry`` off the run-time safe list; :class:`NotListedError` when it is not on it."""
    if not client.srem(prefix + k.KEY_SAFE, entry):
        members: Any = client.smembers(prefix + k.KEY_SAFE)
        hint = f" ({len(members)} entries are: `pinrelay guard status`)" if members else ""
        raise NotListedError(f"{entry} is not on the run-time safe list{hint}")
    return {"entry": entry, "safe": False, "removed": True}
