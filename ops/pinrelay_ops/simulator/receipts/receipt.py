"""One receipt to push (a Vonage DLR, a Twilio status callback or a Messages API status webhook)
and its delivery history.

A receipt is planned once (:mod:`.dlr`, :mod:`.status_callbacks`), then
pushed and retried by the dispatcher, which is the only writer after that.
``style`` says how it is signed at push time (:mod:`.payload`); ``max_attempts``
caps the pushes (Twilio retries a callback a fixed number of times) where
Vonage retries within a time window instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

VONAGE: Final = "vonage"
TWILIO: Final = "twilio"
MESSAGES: Final = "messages"  # the Vonage Messages API: a JSON body and a signed JWT header
#: the field holding the message id / status in each style
_ID_FIELD: Final = {VONAGE: "messageId", TWILIO: "MessageSid", MESSAGES: "message_uuid"}
_STATUS_FIELD: Final = {VONAGE: "status", TWILIO: "MessageStatus", MESSAGES: "status"}


@dataclass(eq=False)
class Receipt:
    """One receipt and its delivery history; mutated only under the dispatcher's lock."""

    kind: str  # intermediate | final | duplicate
    fields: dict[str, Any]  # strings, but a repeated Twilio name is a tuple and a Messages body nests
    transport: str  # get | form | json
    url: str
    style: str = VONAGE  # vonage | twilio | messages
    route: str = "sc2fa"  # the route whose send it reports on
    max_attempts: int | None = None  # None: retry until dlr_retry_window_s is over
    id: int = 0
    generation: int = 0
    state: str = "scheduled"  # scheduled | in_flight | retrying | acknowledged | abandoned
    attempts: int = 0
    last_http_status: int | None = None
    last_error: str | None = None
    first_attempt_mono: float | None = None
    first_attempt_at: float | None = None  # unix seconds
    last_attempt_at: float | None = None
    sent: dict[str, Any] = field(default_factory=dict)  # last payload pushed, signed
    sent_headers: dict[str, str] = field(default_factory=dict)  # its extra headers (a signature)
    follower: Receipt | None = None  # pushed dlr_gap_s after this one's first attempt

    @property
    def message_id(self) -> str:
        return str(self.fields[_ID_FIELD[self.style]])

    @property
    def status(self) -> str:
        return str(self.fields[_STATUS_FIELD[self.style]])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "route": self.route,
            "style": self.style,
            "message_id": self.message_id,
            "status": self.status,
            "state": self.state,
            "transport": self.transport,
            "url": self.url,
            "fields": dict(self.sent or self.fields),
            "headers": dict(self.sent_headers),
            "attempts": self.attempts,
            "last_http_status": self.last_http_status,
            "last_error": self.last_error,
            "first_attempt_at": self.first_attempt_at,
            "last_attempt_at": self.last_attempt_at,
        }
