"""The one JSON reader of the receiver and the API: strict, and never a 500.

A body is UTF-8 JSON (RFC 8259): ``NaN`` and ``Infinity`` are not JSON and are refused; a
name that appears twice in one object is refused rather than silently taking the last value
(two parsers of the same body must not disagree on what it says); a document nested deeper
than the interpreter's recursion allows (a few thousand ``[``: well under any body limit) is
refused with its own reason instead of escaping as a ``RecursionError``. Each refusal is a
:class:`~webhook.http.errors.JsonBodyError` (400) naming the problem, never a value.

``exact_numbers`` keeps every number as the text that was sent (the receiver stores a
receipt's ``0.00480000`` as is); otherwise numbers are ``int`` and ``float``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .errors import JsonBodyError


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise JsonBodyError("duplicate")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads with keyword arguments builds a decoder per call.
_PLAIN: Final = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constant)
_EXACT: Final = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constant,
                                 parse_float=str, parse_int=str)


def read_json(body: bytes, *, exact_numbers: bool = False) -> Any:
    """The JSON document ``body`` holds; :class:`JsonBodyError` when it is not one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonBodyError("encoding") from None
    try:
        return (_EXACT if exact_numbers else _PLAIN).decode(text)
    except RecursionError:
        raise JsonBodyError("depth") from None
    except ValueError:
        raise JsonBodyError("syntax") from None
