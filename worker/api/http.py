"""The API's side of a request and an answer: JSON bodies, fields, headers, its answers.

The HTTP core (:mod:`webhook.http`) has already routed the request and read its body (under
the deadline, within ``PINRELAY_API_BODY_LIMIT``); the checks here run before any work is
done, each with its own error code: a body that is not ``application/json`` (415), not strict
UTF-8 JSON (the core's one reader: a name given twice or a document nested too deeply are
refused too) or not an object (400), a field that is missing, unknown or of the wrong type
(422), a malformed ``Idempotency-Key`` (400).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from webhook.http.answers import Answer, json_answer
from webhook.http.core import Request
from webhook.http.errors import JsonBodyError
from webhook.http.jsonbody import read_json
from worker.api.errors import InvalidRequest, UnsupportedMediaType, core_refusal

IDEMPOTENCY_KEY_MAX: Final = 128  # the producer's limit (worker.enqueue.request)
NO_STORE: Final = ("Cache-Control", "no-store")  # records are not for caches


def response(status: int, payload: object, extra: Iterable[tuple[str, str]] = ()) -> Answer:
    """A JSON answer with its length, and ``no-store``."""
    return json_answer(status, payload, [NO_STORE, *extra])


def error_response(status: int, code: str, message: str, extra: Iterable[tuple[str, str]] = ()) -> Answer:
    return response(status, {"error": {"code": code, "message": message}}, extra)


def json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; ``optional`` lets an empty body stand for ``{}``."""
    body = request.body
    if optional and not body.strip():
        return {}
    media = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaType("send the body as application/json")
    try:
        data = read_json(body)
    except JsonBodyError as exc:
        raise core_refusal(exc) from None
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    return data


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header: 1-128 visible ASCII characters, or absent."""
    value = request.header("idempotency-key")
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
