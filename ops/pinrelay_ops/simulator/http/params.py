"""Request params as the provider reads them: query string, form body or JSON object body.

The query string and the body are merged, body winning, as the docs' PHP
sample merges ``$_GET`` and ``$_POST``. JSON values are turned into strings
(``1234`` -> ``"1234"``), since the provider treats every value as text.
"""

from __future__ import annotations

import json
from typing import Final
from urllib.parse import parse_qsl

FORM_TYPE: Final = "application/x-www-form-urlencoded"
#: the JSON content types the JSON endpoints accept (docs/provider-api.md §1)
JSON_TYPES: Final = frozenset(
    {
        "application/json",
        "application/jsonrequest",
        "application/x-javascript",
        "text/json",
        "text/javascript",
        "text/x-javascript",
        "text/x-json",
    }
)


def media_type(content_type: str) -> str:
    """``"application/json; charset=utf-8"`` -> ``"application/json"``."""
    return content_type.split(";", 1)[0].strip().lower()


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def parse(query: str, content_type: str, body: bytes) -> dict[str, str]:
    """Every param of the request; an unreadable body contributes nothing."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    kind = media_type(content_type)
    if not body.strip():
        return params
    if kind == FORM_TYPE:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif kind in JSON_TYPES:
        try:
            decoded = json.loads(body)
        except ValueError:
            return params
        if isinstance(decoded, dict):
            params.update({str(k): _text(v) for k, v in decoded.items() if v is not None})
    return params
