"""The states of a send and the only moves between them.

The table is the single source of truth: the Python store and the Redis Lua
scripts (which get it rendered in) both consult it, so a late ``accepted``
receipt can never move a ``delivered`` send back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class State(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    BUFFERED = "buffered"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    FAILED = "failed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    ERROR = "error"
    UNCONFIRMED = "unconfirmed"
    EXPIRED_BEFORE_SEND = "expired_before_send"


RECEIPT_STATES: Final = frozenset(
    {
        State.ACCEPTED,
        State.BUFFERED,
        State.DELIVERED,
        State.EXPIRED,
        State.FAILED,
        State.REJECTED,
        State.UNKNOWN,
    }
)

# Terminal: nothing moves a record out of these.
FINAL_STATES: Final = frozenset(
    {
        State.DELIVERED,
        State.EXPIRED,
        State.FAILED,
        State.REJECTED,
        State.UNKNOWN,
        State.ERROR,
        State.EXPIRED_BEFORE_SEND,
    }
)

# States a send may rest in while nobody works on it (what `wait` stops at).
SETTLED_STATES: Final = FINAL_STATES | {State.UNCONFIRMED}

_AFTER_SUBMIT: Final = RECEIPT_STATES

TRANSITIONS: Final[dict[State, frozenset[State]]] = {
    State.QUEUED: frozenset(
        {State.SENDING, State.ERROR, State.EXPIRED_BEFORE_SEND, State.UNCONFIRMED}
    ),
    # SENDING -> QUEUED is the release after a definite non-acceptance
    # (throttled, 5xx) so the next attempt can claim the send again.
    State.SENDING: frozenset(
        {State.QUEUED, State.SUBMITTED, State.ERROR, State.UNCONFIRMED} | _AFTER_SUBMIT
    ),
    State.SUBMITTED: _AFTER_SUBMIT,
    State.ACCEPTED: _AFTER_SUBMIT - {State.ACCEPTED},
    State.BUFFERED: _AFTER_SUBMIT - {State.BUFFERED},
    # The truth may still arrive: a receipt (matched by client-ref) or a late answer.
    State.UNCONFIRMED: frozenset({State.SUBMITTED, State.ERROR} | _AFTER_SUBMIT),
}
for _final in FINAL_STATES:
    TRANSITIONS[_final] = frozenset()


def can_move(current: State, target: State) -> bool:
    """Whether a record in ``current`` may move to ``target`` (the Lua scripts' rule, in Python)."""
    return target in TRANSITIONS[current]
