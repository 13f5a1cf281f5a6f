"""What ``POST /v1/messages`` answers (docs/provider-routes.md §E.3): 202 with the message UUID,
or an RFC 7807 problem.

A problem body has ``type`` (a URL naming the error), ``title``, ``detail`` and
``instance`` (a random id of this occurrence); a 422 adds ``invalid_parameters``, a list of
``{"name", "reason"}``. The texts follow the Vonage API error pages (wording uncertain).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..http.exchange import Answer

PROBLEM_TYPE: Final = "application/problem+json"
ERRORS_URL: Final = "https://developer.vonage.com/api-errors"
#: HTTP status -> (type suffix, title, detail)
PROBLEMS: Final[Mapping[int, tuple[str, str, str]]] = {
    401: ("#unauthorized", "Unauthorized", "You did not provide correct credentials."),
    402: ("#low-balance", "Low balance",
          "This request could not be performed due to your account balance being low."),
    422: ("/messages#1150", "Invalid params", "The value of one or more parameters is invalid."),
    429: ("#throttled", "Rate Limit Hit", "Please wait, then retry your request"),
    500: ("#internal-error", "Internal Error", "Something went wrong on our side."),
}


def accepted(message_uuid: str) -> Answer:
    """HTTP 202 ``{"message_uuid": ...}``."""
    return Answer(202, json.dumps({"message_uuid": message_uuid}).encode())


def problem(
    status: int,
    invalid: Sequence[tuple[str, str]] = (),
    detail: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Answer:
    """The problem answer for HTTP ``status``; ``invalid`` lists (param, reason) for a 422."""
    generic = (f"#http-{status}", f"HTTP {status}", f"Simulated HTTP {status}")
    suffix, title, text = PROBLEMS.get(status, generic)
    body: dict[str, Any] = {
        "type": ERRORS_URL + suffix,
        "title": title,
        "detail": detail or text,
        "instance": str(uuid.uuid4()),
    }
    if invalid:
        body["invalid_parameters"] = [{"name": name, "reason": reason} for name, reason in invalid]
    return Answer(status, json.dumps(body).encode(), PROBLEM_TYPE, headers=headers)
