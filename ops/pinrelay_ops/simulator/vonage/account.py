"""The simulated Vonage account: its balance and the message ids it hands out.

One account serves the 2FA and SMS routes (the same ``api_key``), so both
draw on one balance: a send is charged per part at ``message_price`` and
refused with status 9 once ``balance`` cannot cover a part.
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal, InvalidOperation

from ..config import SimConfig
from .responses import MessageIds


class Account:
    """Thread-safe balance and id source; :meth:`reset` refills the balance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent = Decimal(0)
        self._ids = MessageIds()

    def debit(self, config: SimConfig) -> str | None:
        """The balance left after charging one message (part), or None when credit is short."""
        try:
            price, start = Decimal(config.message_price), Decimal(config.balance)
        except InvalidOperation:
            price, start = Decimal("0.0333"), Decimal(100)
        with self._lock:
            if start - self._spent < price:
                return None
            self._spent += price
            return f"{start - self._spent:.8f}"

    def message_id(self, style: str = "hex") -> str:
        """A fresh id: 16 uppercase hex chars, or a UUID (the newer SMS API's form)."""
        return str(uuid.uuid4()) if style == "uuid" else self._ids.next()

    def reset(self) -> None:
        with self._lock:
            self._spent = Decimal(0)
