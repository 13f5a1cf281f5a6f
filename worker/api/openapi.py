"""The OpenAPI 3.1 document served at ``/openapi.json``: ``openapi.json`` beside this module.

Kept as a data file (package data) rather than built in code, so it reads as the contract it
is and a diff to it is a diff to the API. The tests hold it to the code: schemathesis runs
every operation against the live app with all its checks, and a unit test compares the
record schema with :data:`worker.records.view.PUBLIC_FIELDS`.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def document_bytes() -> bytes:
    """The document as served (compact JSON)."""
    return json.dumps(document(), separators=(",", ":")).encode()


@functools.cache
def document() -> dict[str, Any]:
    text = resources.files(__package__ or "worker.api").joinpath("openapi.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
