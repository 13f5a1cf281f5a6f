"""Pre-signed delivery receipts, as the simulator would push them, for load generators.

Every receipt has its own ``nonce`` (the receiver queues a nonce once and
acknowledges replays as duplicates) and a ``timestamp`` of when the pool was
built, so the pool must be used within the receiver's signature window: build
it right before the run. Odd items are form POSTs, even ones GETs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlencode

from ops.simulator.receipts.dlr import AcceptedSend, base_fields, signed, stamp
from webhook.app import RECEIPT_PATH
from worker.config import Settings
from worker.local.demo import demo_numbers

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


def number(index: int, numbers: list[str] = demo_numbers(DISTINCT_NUMBERS)) -> str:  # noqa: B008 - computed once
    return numbers[index % len(numbers)]


def receipt_fields(index: int, settings: Settings, now: float, status: str = "delivered") -> dict[str, str]:
    """A signed final DLR for message ``message_id(index)``, timestamped ``now``."""
    send = AcceptedSend(message_id(index), number(index), None, settings.api_key, PRICE, NETWORK)
    fields = base_fields(send, status, "0", SHORT_CODE)
    stamp(fields, datetime.fromtimestamp(now, UTC))
    return signed(fields, settings.signature_secret or "", settings.signature_method, now)


def build_pool(count: int, settings: Settings, now: float) -> Iterator[PoolItem]:
    for index in range(count):
        query = urlencode(receipt_fields(index, settings, now))
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
                f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
        return head.encode() + body
    return f"GET {item.target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
