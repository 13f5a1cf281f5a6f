"""Twilio status callbacks (docs/provider-routes.md §B.4): the statuses a message moves through after
``queued``.

No callback is sent for the initial status. Then, by the outcome drawn from
the same mix as the Vonage receipts (:mod:`.mix`):

===========  ===========================================  =========================
outcome      callbacks, in order                          ``ErrorCode``
===========  ===========================================  =========================
delivered    ``sent``, ``delivered``                      none
accepted     ``sent`` only (the carrier never reported)   none
failed       ``failed`` (never left Twilio)               30001 / 30007 / 30008
rejected     ``sent``, ``undelivered``                    30004 / 30005 / 30006 / 30007
expired      ``sent``, ``undelivered``                    30003 (handset unreachable)
unknown      ``sent``, ``undelivered``                    30008 (unknown carrier error)
===========  ===========================================  =========================

``sent`` is always there (it is part of Twilio's progression), so
``dlr_intermediate`` does not apply; ``out_of_order`` and ``duplicate_rate`` do.
A message whose ``ValidityPeriod`` runs out first gets only ``failed`` with 30036
(``receipts/expiry.py``). Callbacks are form POSTs signed at push time (:mod:`.payload`),
with ``twilio_callback_params`` added (a name with several values is sent repeated);
a failed push is retried ``twilio_callback_retries`` times (Twilio's ``rc`` default is 1).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..config import SimConfig
from .mix import pick_outcome
from .receipt import TWILIO, Receipt

API_VERSION: Final = "2010-04-01"
#: mix outcome -> (final MessageStatus, or None when ``sent`` is the last word; ErrorCodes)
FINALS: Final[dict[str, tuple[str | None, tuple[str, ...]]]] = {
    "delivered": ("delivered", ()),
    "accepted": (None, ()),
    "failed": ("failed", ("30001", "30007", "30008")),
    "rejected": ("undelivered", ("30004", "30005", "30006", "30007")),
    "expired": ("undelivered", ("30003",)),
    "unknown": ("undelivered", ("30008",)),
}
#: statuses whose callback carries ``RawDlrDoneDate`` (the carrier's DLR time)
DLR_DONE_STATUSES: Final = frozenset({"delivered", "undelivered"})


@dataclass(frozen=True, slots=True)
class TwilioSend:
    """What a status callback says about the message it reports on."""

    sid: str
    account_sid: str
    to: str
    sender: str
    messaging_service_sid: str | None
    url: str


def callback_fields(
    send: TwilioSend, status: str, error_code: str | None, extra: Mapping[str, tuple[str, ...]] | None = None
) -> dict[str, Any]:
    """The callback params for ``status``; ``ErrorCode`` only for failed/undelivered; ``extra``
    added, a name with several values as a tuple (sent repeated)."""
    fields: dict[str, Any] = {
        "AccountSid": send.account_sid,
        "ApiVersion": API_VERSION,
        "From": send.sender,
        "MessageSid": send.sid,
        "MessageStatus": status,
        "SmsSid": send.sid,
        "SmsStatus": status,
        "To": send.to,
    }
    if send.messaging_service_sid:
        fields["MessagingServiceSid"] = send.messaging_service_sid
    if error_code:
        fields["ErrorCode"] = error_code
    for name, values in (extra or {}).items():
        fields[name] = values[0] if len(values) == 1 else values
    return fields


def plan_callbacks(
    send: TwilioSend,
    config: SimConfig,
    rng: random.Random,
    *,
    outcome: tuple[str, str] | None = None,
) -> list[Receipt]:
    """The callbacks to push for ``send``, in push order.

    ``outcome`` forces ``(final MessageStatus, ErrorCode)`` (a barred number
    ends ``undelivered``/30004) instead of drawing from the mix.
    """
    if outcome is None:
        final_status, codes = FINALS[pick_outcome(config.dlr_mix, rng)[0]]
        error_code = rng.choice(codes) if codes else None
    else:
        final_status, error_code = outcome[0], outcome[1] or None
    attempts = 1 + config.twilio_callback_retries

    def receipt(kind: str, status: str, code: str | None) -> Receipt:
        fields = callback_fields(send, status, code, config.twilio_callback_params)
        return Receipt(kind, fields, "form", send.url, style=TWILIO, route="twilio", max_attempts=attempts)

    chain: list[Receipt] = []
    if final_status != "failed":
        chain.append(receipt("intermediate", "sent", None))
    if final_status is not None:
        final = receipt("final", final_status, error_code)
        chain.append(final)
        if config.out_of_order and len(chain) == 2:
            chain.reverse()
        if config.duplicate_rate and rng.random() < config.duplicate_rate:
            # the same callback again: shares the final's fields, so its RawDlrDoneDate matches
            duplicate = receipt("duplicate", final_status, error_code)
            duplicate.fields = final.fields
            chain.append(duplicate)
    for earlier, later in itertools.pairwise(chain):
        earlier.follower = later
    return chain
