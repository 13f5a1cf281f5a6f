"""Pre-signed delivery receipts, as the simulator would push them, for load generators.

Every receipt has its own ``nonce`` (the receiver queues a nonce once and
acknowledges replays as duplicates) and a ``timestamp`` of when the pool was
built, so the pool must be used within the receiver's signature window: build
it right before the run. Odd items are form POSTs, even ones GETs.

A pool holds hundreds of thousands of receipts, so :func:`build_pool` makes the
simulator's receipt once (:func:`receipt_fields`) and then only swaps in each one's
message-id, number and nonce, re-signs it (:mod:`worker.signing`, the key work done
once) and encodes just those fields: about a fifth of the time of building each from
scratch, with the same fields in the same order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlencode

from pinrelay_ops.simulator.receipts.dlr import AcceptedSend, base_fields, signed, stamp
from webhook.app import RECEIPT_PATH
from worker import signing
from worker.config import Settings

FORM_TYPE: Final = "application/x-www-form-urlencoded"
PRICE: Final = "0.03330000"
NETWORK: Final = "310004"
SHORT_CODE: Final = "98765"
DISTINCT_NUMBERS: Final = 10_000


@dataclass(frozen=True, slots=True)
class PoolItem:
    method: str  # GET or POST
    target: str  # path and query
    body: str  # form body for POST, "" for GET


def message_id(index: int) -> str:
    """A provider-style 16-hex-digit message-id, distinct per index."""
    return f"{index:016X}"


# Valid, distinct US numbers in the 555 fictional range (the demo's too).
_NUMBERS: Final = [f"1636555{(1000 + i) % 10000:04d}" for i in range(DISTINCT_NUMBERS)]


def number(index: int, numbers: list[str] = _NUMBERS) -> str:
    return numbers[index % len(numbers)]


def receipt_fields(index: int, settings: Settings, now: float, status: str = "delivered") -> dict[str, str]:
    """A signed final DLR for message ``message_id(index)``, timestamped ``now``."""
    send = AcceptedSend(message_id(index), number(index), None, settings.api_key, PRICE, NETWORK)
    fields = base_fields(send, status, "0", SHORT_CODE)
    stamp(fields, datetime.fromtimestamp(now, UTC))
    return signed(fields, settings.signature_secret or "", settings.signature_method, now)


_VARYING: Final = ("messageId", "msisdn", "nonce", "sig")
_URL_SAFE: Final = re.compile(r"[A-Za-z0-9_.~-]*")


def _encoded(name: str, value: str) -> str:
    return f"{name}={value}" if _URL_SAFE.fullmatch(value) else urlencode({name: value})


def build_pool(count: int, settings: Settings, now: float) -> Iterator[PoolItem]:
    """``count`` receipts as :func:`receipt_fields` makes them, signed at ``now``; each its own
    nonce, UUID-shaped: a random prefix for the pool, then the index."""
    template = receipt_fields(0, settings, now)
    signer = signing.signer(settings.signature_secret or "", settings.signature_method)
    fixed = {name: _encoded(name, value) for name, value in template.items() if name not in _VARYING}
    prefix = str(uuid.uuid4())[:24]
    for index in range(count):
        nonce = f"{prefix}{index:012x}"
        fields = dict(template, messageId=message_id(index), msisdn=number(index), nonce=nonce)
        fields["sig"] = signer.sign(fields)
        query = "&".join(fixed.get(name) or _encoded(name, value) for name, value in fields.items())
        if index % 2:
            yield PoolItem("POST", RECEIPT_PATH, query)
        else:
            yield PoolItem("GET", f"{RECEIPT_PATH}?{query}", "")


def write_lines(items: list[PoolItem], path: Path) -> None:
    """One ``METHOD<TAB>target<TAB>body`` line per item, for the wrk script."""
    with path.open("w") as out:
        for item in items:
            out.write(f"{item.method}\t{item.target}\t{item.body}\n")


def raw_request(item: PoolItem, host: str) -> bytes:
    """The HTTP/1.1 request bytes of ``item`` (keep-alive)."""
    if item.method == "POST":
        body = item.body.encode()
        head = (f"POST {item.target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM_TYPE}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode() + body
    return f"GET {item.target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
