"""Delivery receipts (docs/provider-api.md §4): what is pushed for an accepted send, and in which order.

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
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from worker.signing import sign

from ..config import SimConfig
from .mix import pick_outcome
from .receipt import Receipt

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
    sender: str | None = None  # the DLR ``to``: the SMS API's ``from``; None = the short code


def base_fields(send: AcceptedSend, status: str, err_code: str, short_code: str) -> dict[str, str]:
    """The receipt fields that do not depend on when it is pushed."""
    fields = {
        "msisdn": send.to,
        "to": send.sender or short_code,
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


def plan(
    send: AcceptedSend,
    config: SimConfig,
    rng: random.Random,
    *,
    url: str | None = None,
    outcome: tuple[str, str] | None = None,
    route: str = "sc2fa",
) -> list[Receipt]:
    """The receipts to push for ``send``, in push order.

    ``url`` overrides ``dlr_url`` (the SMS API's per-message ``callback``);
    ``outcome`` forces the final ``(status, err-code)`` instead of drawing it
    from the mix (an opted-out number on the SMS API ends ``failed``/9).
    """
    target = url or config.dlr_url

    def receipt(kind: str, status: str, err_code: str) -> Receipt:
        transport = config.dlr_transport
        if transport == "mixed":
            transport = rng.choice(SINGLE_TRANSPORTS)
        fields = base_fields(send, status, err_code, config.short_code)
        return Receipt(kind=kind, fields=fields, transport=transport, url=target, route=route)

    status, err_code = outcome or pick_outcome(config.dlr_mix, rng)
    final = receipt("final", status, err_code)
    chain = [final]
    if config.dlr_intermediate and status != "accepted":
        intermediate = receipt("intermediate", "accepted", "0")
        chain = [final, intermediate] if config.out_of_order else [intermediate, final]
    if config.duplicate_rate and rng.random() < config.duplicate_rate:
        # the same DLR again: shares the final's fields, so its times match too
        chain.append(Receipt("duplicate", final.fields, final.transport, final.url, route=route))
    for earlier, later in itertools.pairwise(chain):
        earlier.follower = later
    return chain
