"""Every refusal of the HTTP API, one class per stable error code.

::

    PinrelayError                     (worker.errors, the project's one root)
    └── ApiError                      an answer other than success; ``code`` is public
        ├── Unauthorized              401 unauthorized (with WWW-Authenticate: Bearer)
        ├── InvalidRequest            400 invalid_request: the body is not a JSON object,
        │                             a header is malformed; 422 when a field is wrong
        │                             (invalid_request, invalid_number, invalid_pin,
        │                             invalid_callback_url, invalid_code)
        ├── NotFound                  404 not_found (unknown path or id)
        ├── MethodNotAllowed          405 method_not_allowed (with Allow)
        ├── ResendRefused             409 resend_refused: the verification ended, or all sends used
        ├── PayloadTooLarge           413 payload_too_large
        ├── UnsupportedMediaType      415 unsupported_media_type
        ├── RateLimited               429 rate_limited: this key's requests per second
        ├── LimitExceeded             429 limit_exceeded: an abuse limit on the number
        └── Unavailable               503 unavailable: Redis (or the broker) did not answer

Anything else becomes 500 ``internal_error`` with no detail (logged, never returned).
Messages name fields and limits, never a PIN, a key or a whole phone number.
"""

from __future__ import annotations

from typing import ClassVar

from worker.errors import PinrelayError


class ApiError(PinrelayError):
    """An error answer: ``http_status``, the stable ``code``, a message and extra headers."""

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


class NotFound(ApiError):
    http_status = 404
    default_code = "not_found"


class MethodNotAllowed(ApiError):
    http_status = 405
    default_code = "method_not_allowed"


class ResendRefused(ApiError):
    http_status = 409
    default_code = "resend_refused"


class PayloadTooLarge(ApiError):
    http_status = 413
    default_code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    http_status = 415
    default_code = "unsupported_media_type"


class RateLimited(ApiError):
    http_status = 429
    default_code = "rate_limited"


class LimitExceeded(ApiError):
    http_status = 429
    default_code = "limit_exceeded"


class Unavailable(ApiError):
    http_status = 503
    default_code = "unavailable"


# Which 422 code a refused field gets (worker.errors.ValidationError.field -> code).
FIELD_CODES: dict[str, str] = {"to": "invalid_number", "pin": "invalid_pin",
                               "callback_url": "invalid_callback_url", "code": "invalid_code"}
