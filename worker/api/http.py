"""Reading a request and writing an answer: pure functions over the WSGI environ, no Redis.

The checks here run before any work is done, each with its own error code: a body over
the limit (413, decided from Content-Length before reading when there is one), a body that
is not ``application/json`` (415), not UTF-8 JSON or not an object (400), a field that is
missing, unknown or of the wrong type (422), a malformed ``Idempotency-Key`` (400).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import IO, Any, Final
from wsgiref.types import WSGIEnvironment

from worker.api.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

READ_CHUNK_BYTES: Final = 16 * 1024
IDEMPOTENCY_KEY_MAX: Final = 128  # the producer's limit (worker.enqueue.request)

Response = tuple[str, list[tuple[str, str]], bytes]


def response(status: int, payload: object, extra: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON answer with its length (and ``no-store``: records are not for caches)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
               ("Cache-Control", "no-store")]
    headers.extend(extra)
    return f"{status} {HTTPStatus(status).phrase}", headers, body


def error_response(status: int, code: str, message: str, extra: Iterable[tuple[str, str]] = ()) -> Response:
    return response(status, {"error": {"code": code, "message": message}}, extra)


@dataclass
class Request:
    """One request: what the handlers read. ``params`` are the path's ``{id}`` parts."""

    environ: WSGIEnvironment
    body_limit: int
    params: dict[str, str] = field(default_factory=dict)
    key_id: str = ""  # the authenticated API key's id

    @property
    def method(self) -> str:
        return str(self.environ.get("REQUEST_METHOD", "GET"))

    def header(self, name: str) -> str | None:
        """A request header by its HTTP name (``Idempotency-Key``), or None."""
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = self.environ.get(key)
        return None if value is None else str(value)

    def body(self) -> bytes:
        """The body, never more than the limit read (413 beyond it)."""
        stream: IO[bytes] = self.environ["wsgi.input"]
        declared = (self.header("Content-Length") or "").strip()
        limit = self.body_limit
        if declared:
            if not (declared.isascii() and declared.isdigit()):
                raise InvalidRequest("Content-Length is not a number")
            if int(declared) > limit:
                raise PayloadTooLarge(f"the body is larger than {limit} bytes")
            budget = int(declared)
        else:
            budget = limit + 1
        chunks: list[bytes] = []
        received = 0
        while received < budget:
            chunk = stream.read(min(READ_CHUNK_BYTES, budget - received))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        return b"".join(chunks)

    def json_object(self, *, optional: bool = False) -> dict[str, Any]:
        """The body as a JSON object; ``optional`` lets an empty body stand for ``{}``."""
        body = self.body()
        if optional and not body.strip():
            return {}
        media = (self.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            raise UnsupportedMediaType("send the body as application/json")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("the body is not valid UTF-8 JSON") from None
        if not isinstance(data, dict):
            raise InvalidRequest("the body must be a JSON object")
        return data

    def idempotency_key(self) -> str | None:
        """The ``Idempotency-Key`` header: 1-128 visible ASCII characters, or absent."""
        value = self.header("Idempotency-Key")
        if value is None:
            return None
        if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX or not all(33 <= ord(ch) <= 126 for ch in value):
            raise InvalidRequest(f"Idempotency-Key must be 1-{IDEMPOTENCY_KEY_MAX} visible ASCII characters")
        return value


def fields(data: Mapping[str, Any], *, required: Iterable[str],
           optional: Iterable[str] = ()) -> dict[str, Any]:
    """``data`` checked for missing and unknown fields (422); optional ones default to None."""
    required, optional = tuple(required), tuple(optional)
    missing = [name for name in required if name not in data]
    if missing:
        raise InvalidRequest(f"{missing[0]}: is required", status=422)
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", status=422)
    return {name: data.get(name) for name in (*required, *optional)}


def string_field(data: Mapping[str, Any], name: str, *, code: str = "invalid_request") -> str | None:
    """``data[name]`` when it is a string or null/absent; 422 ``code`` otherwise."""
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{name}: must be a string", code=code, status=422)
    return value
