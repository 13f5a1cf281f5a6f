"""Why a request was refused, as the HTTP core and the apps on it say it.

::

    PinrelayError                    (worker.errors, the project's one root)
    └── HttpError                    a refusal: ``http_status`` and a short, value-free reason
        ├── BadRequestError          400
        │   ├── BadContentLengthError     a Content-Length that is not a number
        │   ├── BodyCutOffError           the client went away before the body's end
        │   └── JsonBodyError             not UTF-8, not JSON, nested too deeply, a name twice
        ├── BodyTimeoutError         408: the body did not arrive within its deadline
        ├── BodyTooLargeError        413: over the app's body limit (a Content-Length over it is
        │                            refused before anything is read)
        ├── webhook.errors.ReceiptError   the receiver's refusals (401, 403, 415, ...)
        └── worker.api.errors.ApiError    the API's refusals, each with a stable code

The core raises the first branch while it reads a body; an app raises its own. Whatever
escapes a handler as an :class:`HttpError` is answered through the app's ``refused``, in
the app's wording; anything else is a 500 that is logged and never explained.
Reasons name parameters and limits, never a value.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from worker.errors import PinrelayError

JsonProblem = Literal["encoding", "syntax", "depth", "duplicate"]
JSON_REASONS: Final[dict[JsonProblem, str]] = {
    "encoding": "body is not UTF-8",
    "syntax": "malformed JSON",
    "depth": "JSON nested too deeply",
    "duplicate": "a name appears twice in a JSON object",
}


class HttpError(PinrelayError):
    """A refused request; ``http_status`` says how to answer it."""

    http_status: ClassVar[int] = 400

    @property
    def reason(self) -> str:
        """The short, value-free text an answer may carry."""
        return str(self)


class BadRequestError(HttpError):
    http_status = 400


class BadContentLengthError(BadRequestError):
    def __init__(self) -> None:
        super().__init__("bad Content-Length")


class BodyCutOffError(BadRequestError):
    def __init__(self) -> None:
        super().__init__("the body was cut off before its end")


class JsonBodyError(BadRequestError):
    """The body is not one JSON document as the core reads them (:mod:`webhook.http.jsonbody`)."""

    def __init__(self, problem: JsonProblem) -> None:
        super().__init__(JSON_REASONS[problem])
        self.problem: JsonProblem = problem


class BodyTimeoutError(HttpError):
    """The client sent its headers but not the whole body in time (a stalled or slow client)."""

    http_status = 408

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"the body did not arrive within {timeout_s:g} s")
        self.timeout_s = timeout_s


class BodyTooLargeError(HttpError):
    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit
