"""Messages API status webhooks (docs/provider-routes.md §E.4): what an accepted SMS reports, in order.

Each is a JSON POST to the request's ``webhook_url``, else ``messages_status_url``, else
``dlr_url``'s origin plus :data:`STATUS_PATH`; signed at push time (``receipts/payload.py``).
By the outcome drawn from the same mix as the other routes (``receipts/mix.py``):

===========  ===================================  ==========================================
outcome      statuses, in order                   ``error`` (``title`` = the code)
===========  ===================================  ==========================================
delivered    ``submitted``, ``delivered``         none
accepted     ``submitted`` only                   none
failed       ``submitted``, ``rejected``          1180 / 1230 / 1330 (absent, network, unknown)
rejected     ``rejected``                         1120 / 1210 / 1250 / 1280 (sender, spam, ...)
expired      ``submitted``, ``rejected``          1360 (TTL was activated)
unknown      ``undeliverable``                    1331 (provider error)
===========  ===================================  ==========================================

A barred number ends ``rejected`` 1050, an opted-out one ``rejected`` 1240, a ``ttl`` shorter
than the receipt delay ``submitted`` + ``rejected`` 1360 (``receipts/expiry.py``). The body:
``message_uuid``, ``to``, ``from``, ``timestamp`` (stamped at the first push), ``status``,
``channel``, ``client_ref`` when sent, ``destination.network_code``, ``sms.count_total``,
``usage`` {``currency``, ``price``} once the message was submitted, ``error`` {``type``,
``title``, ``detail``, ``instance``} for ``rejected``/``undeliverable``. Retries follow the
dispatcher's window (Vonage: 5 s doubling to 15 min, 24 h); ``out_of_order`` and
``duplicate_rate`` apply as on the other routes.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from ..config import SimConfig
from ..receipts.expiry import MESSAGES_EXPIRED_CODE
from ..receipts.mix import pick_outcome
from ..receipts.receipt import MESSAGES, Receipt

STATUS_PATH: Final = "/messages-status-webhook"
ERROR_TYPE_URL: Final = "https://developer.vonage.com/api-errors/messages#{code}"
#: error code -> detail (the Messages API error list)
ERROR_DETAILS: Final[Mapping[int, str]] = {
    1050: "Number barred - The number you are trying to submit to is blacklisted.",
    1120: "Illegal Sender Address - rejected - Due to local regulations, the SenderID was not accepted.",
    1180: "Absent Subscriber Temporary - The phone was temporarily unavailable.",
    1210: "Anti-Spam Rejection - Carriers often apply restrictions that block messages.",
    1230: "Network Error - A network failure while sending your message.",
    1240: "Illegal Number - The user has already sent a STOP opt-out message.",
    1250: "Unroutable - The chosen route to send your message is not available.",
    1280: "Number Blocked by Carrier - The carrier blocked this message.",
    1330: "Unknown - An unknown error was received from the carrier who tried to send this message.",
    1331: "Provider error - The provider is not responding or unable to process the request.",
    MESSAGES_EXPIRED_CODE: "TTL was activated - The message was not delivered within its ttl.",
}
#: mix outcome -> (submitted first?, final status or None, error codes to draw from)
FINALS: Final[Mapping[str, tuple[bool, str | None, tuple[int, ...]]]] = {
    "delivered": (True, "delivered", ()),
    "accepted": (True, None, ()),
    "failed": (True, "rejected", (1180, 1230, 1330)),
    "rejected": (False, "rejected", (1120, 1210, 1250, 1280)),
    "expired": (True, "rejected", (MESSAGES_EXPIRED_CODE,)),
    "unknown": (False, "undeliverable", (1331,)),
}
BARRED: Final = (False, "rejected", 1050)
OPTED_OUT: Final = (False, "rejected", 1240)
EXPIRED: Final = (True, "rejected", MESSAGES_EXPIRED_CODE)
Forced = tuple[bool, str | None, int | None]  # (submitted first?, final status, error code)


@dataclass(frozen=True, slots=True)
class MessagesSend:
    """What a status webhook says about the message it reports on."""

    message_uuid: str
    to: str
    sender: str
    client_ref: str | None
    parts: int
    url: str


def status_url(config: SimConfig, requested: str | None) -> str:
    """Where this message's webhooks go (empty: nowhere)."""
    if requested:
        return requested
    if config.messages_status_url:
        return config.messages_status_url
    if config.dlr_url:
        split = urlsplit(config.dlr_url)
        return f"{split.scheme}://{split.netloc}{STATUS_PATH}"
    return ""


def webhook_body(send: MessagesSend, status: str, code: int | None, config: SimConfig) -> dict[str, Any]:
    """The JSON body for ``status`` (``timestamp`` is added at the first push)."""
    body: dict[str, Any] = {
        "message_uuid": send.message_uuid,
        "to": send.to,
        "from": send.sender,
        "status": status,
        "channel": "sms",
    }
    if send.client_ref is not None:
        body["client_ref"] = send.client_ref
    if code is not None:
        body["error"] = {
            "type": ERROR_TYPE_URL.format(code=code),
            "title": code,
            "detail": ERROR_DETAILS.get(code, f"Error {code}"),
            "instance": str(uuid.uuid4()),
        }
    body["destination"] = {"network_code": config.network}
    body["sms"] = {"count_total": str(send.parts)}
    return body


def plan_webhooks(
    send: MessagesSend, config: SimConfig, rng: random.Random, forced: Forced | None = None
) -> list[Receipt]:
    """The webhooks to push for ``send``, in push order; ``forced`` overrides the mix's draw."""
    if forced is None:
        submitted_first, final, codes = FINALS[pick_outcome(config.dlr_mix, rng)[0]]
        code = rng.choice(codes) if codes else None
    else:
        submitted_first, final, code = forced

    def receipt(kind: str, status: str, error: int | None) -> Receipt:
        body = webhook_body(send, status, error, config)
        if submitted_first or status == "delivered":
            body["usage"] = {"currency": "EUR", "price": config.message_price}
        return Receipt(kind, body, "json", send.url, style=MESSAGES, route="messages")

    chain = [receipt("intermediate", "submitted", None)] if submitted_first else []
    if final is not None:
        last = receipt("final", final, code)
        chain.append(last)
        if config.out_of_order and len(chain) == 2:
            chain.reverse()
        if config.duplicate_rate and rng.random() < config.duplicate_rate:
            duplicate = Receipt("duplicate", last.fields, "json", send.url, style=MESSAGES, route="messages")
            chain.append(duplicate)
    for earlier, later in itertools.pairwise(chain):
        earlier.follower = later
    return chain
