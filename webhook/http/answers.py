"""An answer is ``(status code, headers, body)``: what every handler returns and every adapter sends.

The RSGI front hands the triple to granian as is (``proto.response_bytes``); the WSGI adapter
turns the code into a status line (:data:`STATUS_LINES`). Nothing here knows an app's wording:
each app builds its own error bodies with :func:`json_answer`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Final

Headers = list[tuple[str, str]]
Answer = tuple[int, Headers, bytes]
STATUS_LINES: Final = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def json_answer(status: int, payload: object, extra: Iterable[tuple[str, str]] = ()) -> Answer:
    """``payload`` as compact JSON, with its Content-Type and Content-Length, then ``extra``."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers.extend(extra)
    return status, headers, body


def raw_answer(status: int, content_type: str, body: bytes) -> Answer:
    """``body`` as it is, with its Content-Type and Content-Length."""
    return status, [("Content-Type", content_type), ("Content-Length", str(len(body)))], body
