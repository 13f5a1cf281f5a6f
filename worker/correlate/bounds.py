"""What the correlator keeps small: each receipt it stores, and the dead-letter sets.

A receipt comes from the Internet and may be up to the receiver's body limit (64 kB) of
made-up fields; one that waits (parked) or is given up on (a dead letter) is stored, so
:func:`payload` keeps at most :data:`~worker.constants.DEAD_RECEIPT_MAX_BYTES` of it: the
fields the provider documents (docs/provider-api.md §4), shortened, and a ``_truncated``
field with the original size. A genuine receipt (well under 1 kB) passes unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from worker import constants as c

# docs/provider-api.md §4 "Fields", plus what the receiver and the correlator add.
KEPT_FIELDS: Final = frozenset({
    "msisdn", "to", "network-code", "messageId", "price", "status", "scts", "err-code",
    "message-timestamp", "client-ref", "api-key", "received_at", "_entry",
})
SHORTEST_FIELD: Final = 8  # characters: below this a value says nothing any more


def payload(receipt: Mapping[str, str]) -> str:
    """``receipt`` as the compact JSON the scripts get, never longer than DEAD_RECEIPT_MAX_BYTES."""
    text = json.dumps(receipt, separators=(",", ":"))
    if len(text) <= c.DEAD_RECEIPT_MAX_BYTES:
        return text
    width = c.DEAD_RECEIPT_FIELD_MAX_CHARS
    while True:  # escapes (\uXXXX) can make a character six bytes: halve until it fits
        short = {k: v[:width] for k, v in receipt.items() if k in KEPT_FIELDS}
        short["_truncated"] = str(len(text))
        shortened = json.dumps(short, separators=(",", ":"))
        if len(shortened) <= c.DEAD_RECEIPT_MAX_BYTES or width <= SHORTEST_FIELD:
            return shortened
        width //= 2
