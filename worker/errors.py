"""pinrelay's exceptions, all under one root.

::

    PinrelayError
    ├── ConfigError              a setting is missing or malformed (names the variable)
    ├── UsageError               a command-line argument cannot be used as given (exit 2)
    ├── ValidationError          a send request is refused before anything is enqueued
    │   └── AbuseLimitError      per-number / per-prefix limit or denylist hit (retry later)
    ├── UnknownRequestError      no record for that request id
    ├── StoreUnavailableError    Redis did not answer
    ├── DeferSend                control flow: give the worker slot back, try again later
    ├── SendFailedError          a send task ended `error`/`unconfirmed`: Celery shows FAILURE
    └── ProviderError            the provider call did not end in "accepted"
        ├── TransientProviderError   worth retrying: throttled (1), 5, 10, 13,
        │                            HTTP 429 / 5xx, connection refused before sending
        ├── PermanentProviderError   retrying cannot help: credentials, barred,
        │                            invalid params, opted out, unknown codes
        └── UnconfirmedSendError     the request was written but no answer came
                                     back: the PIN may have been sent

Exceptions carry the request id, the provider status and the message-id where
known, never a PIN or a secret, so any of them can be logged as-is.
"""

from __future__ import annotations


class PinrelayError(Exception):
    """Root of every error pinrelay raises on purpose."""


class ConfigError(PinrelayError):
    """A setting is missing or malformed; the message names the variable."""


class UsageError(PinrelayError):
    """A command-line argument cannot be used as given (a missing folder, say); exit 2."""


class ValidationError(PinrelayError, ValueError):
    """A send request was refused before anything was enqueued."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def for_item(self, index: int) -> ValidationError:
        """The same refusal, naming the item of a batch (``send_pins``) it came from."""
        return ValidationError(f"item {index} {self.field}", self.message)


class NumberTypeRefusedError(ValidationError):
    """The number's type (premium-rate, toll-free, VoIP ...) is not in ``PINRELAY_NUMBER_TYPES``:
    HTTP 422 ``number_type_refused``, CLI exit 2."""

    code = "number_type_refused"

    def __init__(self, field: str, message: str, *, number_type: str = "unknown") -> None:
        super().__init__(field, message)
        self.number_type = number_type

    def for_item(self, index: int) -> NumberTypeRefusedError:
        return NumberTypeRefusedError(f"item {index} {self.field}", self.message,
                                      number_type=self.number_type)


class AbuseLimitError(ValidationError):
    """A per-number or per-prefix limit, or the denylist, refused the send.

    ``window_s`` is the limit's sliding window and ``retry_after_s`` the seconds until the
    oldest counted send leaves it (None for the denylist: waiting does not help), so a
    caller can say when to try again (the CLI exits 4, an HTTP API answers 429).
    """

    def __init__(
        self,
        field: str,
        message: str,
        *,
        limit: str,
        window_s: float | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(field, message)
        self.limit = limit
        self.window_s = window_s
        self.retry_after_s = retry_after_s

    def for_item(self, index: int) -> AbuseLimitError:
        return AbuseLimitError(f"item {index} {self.field}", self.message, limit=self.limit,
                               window_s=self.window_s, retry_after_s=self.retry_after_s)

    def retry_hint(self) -> str:
        """When to try again, in words: ``retry in 9m12s`` or why waiting will not help."""
        if self.retry_after_s is None:
            return "waiting will not help: remove the entry from the denylist first"
        seconds = max(1, int(self.retry_after_s + 0.999))
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        shown = f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
        return f"retry in {shown}"


class QuotaExceededError(AbuseLimitError):
    """A quota or cap of the pumping guard refused the send (``limit`` names it: ``key_hourly``,
    ``key_daily``, ``country_hourly``, ``country_burst``, ``spend_cap``, ``key_send_share``):
    HTTP 429 ``quota_exceeded`` with Retry-After, CLI exit 4."""

    code = "quota_exceeded"
    http_status = 429

    def for_item(self, index: int) -> QuotaExceededError:
        return QuotaExceededError(f"item {index} {self.field}", self.message, limit=self.limit,
                                  window_s=self.window_s, retry_after_s=self.retry_after_s)


class GuardBlockedError(AbuseLimitError):
    """The number's prefix is blocked by the pumping guard (too few of its PINs were used):
    HTTP 403 ``guard_blocked``, CLI exit 4. The message names no threshold."""

    code = "guard_blocked"
    http_status = 403

    def for_item(self, index: int) -> GuardBlockedError:
        return GuardBlockedError(f"item {index} {self.field}", self.message, limit=self.limit,
                                 window_s=self.window_s, retry_after_s=self.retry_after_s)


class UnknownRequestError(PinrelayError, KeyError):
    """No record exists for the request id (never created, or expired)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id

    def __str__(self) -> str:
        return f"unknown request id {self.request_id!r}"


class StoreUnavailableError(PinrelayError):
    """Redis did not answer; nothing was changed."""


class DeferSend(PinrelayError):
    """Control flow, not an error: re-queue the send task in ``countdown_s`` seconds.

    Raised when the global rate limit wants a long wait, or when another copy of the
    task holds the send's claim right now.
    """

    def __init__(self, countdown_s: float) -> None:
        super().__init__(f"send deferred by {countdown_s:.2f}s")
        self.countdown_s = countdown_s


class SendFailedError(PinrelayError):
    """A send ended ``error`` or ``unconfirmed``; raised by the task *after* the record is written.

    An expected outcome, not a bug: the Celery task declares it in ``throws`` so the worker
    logs one line without a traceback, Flower shows the task as FAILURE with this one-line
    reason, and it is not added to the ``dead:tasks`` dead letters (the send itself is in
    ``dead:sends`` already when it needs a person).
    """

    def __init__(self, request_id: str, state: str, reason: str) -> None:
        super().__init__(f"{state}: {reason}" if reason else state)
        self.request_id = request_id
        self.state = state
        self.reason = reason

    def __reduce__(self) -> tuple[type[SendFailedError], tuple[str, str, str]]:
        # Celery pickles task exceptions for its events and result backends.
        return (type(self), (self.request_id, self.state, self.reason))


class ProviderError(PinrelayError):
    """The provider call did not end in an accepted submission."""

    def __init__(
        self,
        message: str,
        *,
        status: str | None = None,
        http_status: int | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = http_status
        self.message_id = message_id

    @property
    def code(self) -> str:
        """The provider status, or ``http-NNN`` / ``network`` when there was none."""
        if self.status is not None:
            return self.status
        if self.http_status is not None:
            return f"http-{self.http_status}"
        return "network"


class TransientProviderError(ProviderError):
    """Retrying later may succeed; ``retry_after`` is the provider's own hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """The provider refused the request; sending it again cannot help."""


class UnconfirmedSendError(ProviderError):
    """The request may have reached the provider but no answer came back."""
