"""The two values between the HTTP layer and the logic: what came in, what goes out.

Keeping them plain lets the provider logic be driven without sockets, and
keeps ``server.py`` to moving bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Inbound:
    """One HTTP request, already read off the socket."""

    method: str
    path: str
    query: str
    content_type: str
    body: bytes
    arrived: float  # unix seconds
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased

    def basic_auth(self) -> tuple[str, str] | None:
        """``(user, password)`` from an ``Authorization: Basic`` header, or None when absent or unreadable."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not token:
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep else None


@dataclass(frozen=True, slots=True)
class Answer:
    """What to write back; ``close`` means drop the connection without writing anything."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Answer:
        return cls(status, json.dumps(data).encode())

    @classmethod
    def text(cls, text: str, status: int = 200) -> Answer:
        return cls(status, text.encode(), "text/plain; charset=utf-8")


DROP = Answer(0, close=True)
