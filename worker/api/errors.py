"""Every refusal of the HTTP API, and every stable error code it answers with.

::

    PinrelayError                     (worker.errors, the project's one root)
    └── HttpError                     (webhook.http.errors: the core's body refusals, answered
        │                             here as invalid_request 400, request_timeout 408,
        │                             payload_too_large 413; see :func:`core_refusal`)
        └── ApiError                  an answer other than success; ``code`` is public
            ├── Unauthorized          401 unauthorized (with WWW-Authenticate: Bearer)
            ├── InvalidRequest        400 invalid_request: the body is not a JSON object,
            │                         a header is malformed; 422 when a field is wrong
            │                         (invalid_request, invalid_number, invalid_pin,
            │                         invalid_callback_url, invalid_code)
            ├── Forbidden             403 forbidden: an admin route with an ordinary key
            ├── NotFound              404 not_found (an unknown id, a prefix not blocked)
            ├── ResendRefused         409 resend_refused: the verification ended, or all sends used
            ├── UnsupportedMediaType  415 unsupported_media_type
            └── RateLimited           429 rate_limited: this key's requests per second

The other answers are built where they are decided (:mod:`worker.api.app`): 404 for an unknown
path and 405 (with Allow) by the route table, 429 limit_exceeded for an abuse limit, the pumping
guard's 422 number_type_refused, 429 quota_exceeded and 403 guard_blocked (with Retry-After), 503
unavailable (with Retry-After) when Redis or the configuration fails, 500 internal_error with
no detail for anything else (logged, never returned). :data:`CODES` lists every code.
Messages name fields and limits, never a PIN, a key or a whole phone number.
"""

from __future__ import annotations

from typing import ClassVar, Final

from webhook.http.errors import BadContentLengthError, BodyTooLargeError, HttpError, JsonBodyError

# Every stable code and its status (/openapi.json's Error schema and the README list them all).
CODES: Final = {
    "invalid_request": 400, "invalid_number": 422, "invalid_pin": 422, "invalid_callback_url": 422,
    "invalid_code": 422, "invalid_prefix": 422, "unauthorized": 401, "forbidden": 403, "not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408, "resend_refused": 409, "payload_too_large": 413,
    "unsupported_media_type": 415, "rate_limited": 429, "limit_exceeded": 429, "unavailable": 503,
    "number_type_refused": 422, "quota_exceeded": 429, "guard_blocked": 403,
    "internal_error": 500,
}
# Which 422 code a refused field gets (worker.errors.ValidationError.field -> code).
FIELD_CODES: Final = {"to": "invalid_number", "pin": "invalid_pin", "callback_url": "invalid_callback_url",
                      "code": "invalid_code", "prefix": "invalid_prefix", "entry": "invalid_prefix"}
_CORE_CODES: Final = {400: "invalid_request", 408: "request_timeout", 413: "payload_too_large"}


class ApiError(HttpError):
    """An error answer: ``status``, the stable ``code``, a message and extra headers."""

    http_status: ClassVar[int] = 400
    default_code: ClassVar[str] = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status or self.http_status
        self.headers = headers


class Unauthorized(ApiError):
    http_status = 401
    default_code = "unauthorized"


class InvalidRequest(ApiError):
    http_status = 400
    default_code = "invalid_request"


class Forbidden(ApiError):
    http_status = 403
    default_code = "forbidden"


class NotFound(ApiError):
    http_status = 404
    default_code = "not_found"


class ResendRefused(ApiError):
    http_status = 409
    default_code = "resend_refused"


class UnsupportedMediaType(ApiError):
    http_status = 415
    default_code = "unsupported_media_type"


class RateLimited(ApiError):
    http_status = 429
    default_code = "rate_limited"


def core_refusal(exc: HttpError) -> ApiError:
    """A refusal of the HTTP core (the body, its JSON) as the API words it."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, BadContentLengthError):
        message = "Content-Length is not a number"
    elif isinstance(exc, BodyTooLargeError):
        message = f"the body is larger than {exc.limit} bytes"
    elif isinstance(exc, JsonBodyError) and exc.problem in ("encoding", "syntax"):
        message = "the body is not valid UTF-8 JSON"
    else:
        message = exc.reason
    return ApiError(message, code=_CORE_CODES.get(exc.http_status, "invalid_request"), status=exc.http_status)
