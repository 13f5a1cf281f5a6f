"""Delivery receipts (API.md §4): what is pushed for an accepted send, and in which order.

:func:`plan` turns one accepted send into a chain of receipts: an optional
intermediate ``accepted``, the final status from the mix, and sometimes a
duplicate of the final; ``out_of_order`` swaps the first two. Times
(``scts``, ``message-timestamp``) are stamped at the first push and kept for
retries; the signature (``timestamp``, ``nonce``, ``sig``) is fresh on every push,
as each push is a new request. Every value is a non-empty string.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from webhook.signatures import sign

from ..config import SimConfig
from .mix import pick_outcome

SINGLE_TRANSPORTS: Final = ("get", "form", "json")


@dataclass(frozen=True, slots=True)
class AcceptedSend:
    """What a receipt needs to know about the send it reports on."""

    message_id: str
    to: str
    client_ref: str | None
    api_key: str
    price: str
    network: str


@dataclass(eq=False)
class Receipt:
    """One DLR and its delivery history; mutated only under the dispatcher's lock."""

    kind: str  # intermediate | final | duplicate
    fields: dict[str, str]
    transport: str
    url: str
    id: int = 0
    generation: int = 0
    state: str = "scheduled"  # scheduled | in_flight | retrying | acknowledged | abandoned
    attempts: int = 0
    last_http_status: int | None = None
    last_error: str | None = None
    first_attempt_mono: float | None = None
    first_attempt_at: float | None = None  # unix seconds
    last_attempt_at: float | None = None
    sent: dict[str, str] = field(default_factory=dict)  # last payload pushed, signed
    follower: Receipt | None = None  # pushed dlr_gap_s after this one's first attempt

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "message_id": self.fields["messageId"],
            "status": self.fields["status"],
            "state": self.state,
            "transport": self.transport,
            "url": self.url,
            "fields": dict(self.sent or self.fields),
            "attempts": self.attempts,
            "last_http_status": self.last_http_status,
            "last_error": self.last_error,
            "first_attempt_at": self.first_attempt_at,
            "last_attempt_at": self.last_attempt_at,
        }


def base_fields(send: AcceptedSend, status: str, err_code: str, short_code: str) -> dict[str, str]:
    """The receipt fields that do not depend on when it is pushed."""
    fields = {
        "msisdn": send.to,
        "to": short_code,
        "network-code": send.network,
        "messageId": send.message_id,
        "price": send.price,
        "status": status,
        "err-code": err_code,
        "api-key": send.api_key,
    }
    if send.client_ref:
        fields["client-ref"] = send.client_ref
    return {k: v for k, v in fields.items() if v}


def stamp(fields: dict[str, str], now: datetime) -> None:
    """Add ``scts`` (YYMMDDHHMM) and ``message-timestamp`` for a first push at ``now`` (UTC)."""
    fields["scts"] = now.strftime("%y%m%d%H%M")
    fields["message-timestamp"] = now.strftime("%Y-%m-%d %H:%M:%S")


def signed(fields: dict[str, str], secret: str, method: str, now: float) -> dict[str, str]:
    """``fields`` plus ``timestamp``, ``nonce`` and the ``sig`` over all of them."""
    payload = dict(fields, timestamp=str(int(now)), nonce=str(uuid.uuid4()))
    payload["sig"] = sign(payload, secret, method)
    return payload


def payload_for(receipt: Receipt, config: SimConfig) -> dict[str, str]:
    """What to push now: stamped on the first push, signed when a secret is set."""
    if "message-timestamp" not in receipt.fields:
        stamp(receipt.fields, datetime.now(UTC))
    if config.signs_receipts:
        return signed(receipt.fields, config.signature_secret, config.signature_method, time.time())
    return dict(receipt.fields)


def plan(send: AcceptedSend, config: SimConfig, rng: random.Random) -> list[Receipt]:
    """The receipts to push for ``send``, in push order."""

    def receipt(kind: str, status: str, err_code: str) -> Receipt:
        transport = config.dlr_transport
        if transport == "mixed":
            transport = rng.choice(SINGLE_TRANSPORTS)
        fields = base_fields(send, status, err_code, config.short_code)
        return Receipt(kind=kind, fields=fields, transport=transport, url=config.dlr_url)

    status, err_code = pick_outcome(config.dlr_mix, rng)
    final = receipt("final", status, err_code)
    chain = [final]
    if config.dlr_intermediate and status != "accepted":
        intermediate = receipt("intermediate", "accepted", "0")
        chain = [final, intermediate] if config.out_of_order else [intermediate, final]
    if config.duplicate_rate and rng.random() < config.duplicate_rate:
        # the same DLR again: shares the final's fields, so its times match too
        chain.append(Receipt("duplicate", final.fields, final.transport, final.url))
    for earlier, later in itertools.pairwise(chain):
        earlier.follower = later
    return chain
