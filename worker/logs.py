"""structlog set-up: JSON lines in production, and redaction that cannot be skipped.

Every event passes :class:`Redactor` last before rendering, so a PIN, an API
secret or a signature secret never reaches a log line, whichever key or
message it hides in. Phone numbers are masked to their last four digits hidden.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from worker.config import Settings
from worker.masking import mask_number

# Keys whose value is never shown, whatever it is.
SECRET_KEYS = frozenset(
    {"pin", "api_secret", "signature_secret", "secret", "sig", "password", "flower_password"}
)
# Keys holding phone numbers: masked, not hidden, so support can still tell them apart.
NUMBER_KEYS = frozenset({"to", "msisdn", "number"})
REDACTED = "[redacted]"
_PIN_IN_TEXT = re.compile(r"(pin[\"']?\s*[:=]\s*[\"']?)(\d+)", re.IGNORECASE)
# A phone number quoted inside free text (a provider's error-text, a response snippet).
_NUMBER_IN_TEXT = re.compile(r"(?<![\d.])(\d{7,11})(\d{4})(?![\d.])")


class Redactor:
    """A structlog processor that removes secrets by key and by value."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event):
            event[key] = self._clean(key, event[key])
        return event

    def _clean(self, key: str, value: Any) -> Any:
        if key in SECRET_KEYS and value is not None:
            return REDACTED
        if key in NUMBER_KEYS and isinstance(value, str):
            return mask_number(value)
        if isinstance(value, str):
            return self._scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        if isinstance(value, BaseException):
            return self._scrub(f"{type(value).__name__}: {value}")
        return value

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _PIN_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, text)
        return _NUMBER_IN_TEXT.sub(lambda m: m.group(1) + "****", text)


def configure_logging(
    settings: Settings | None = None,
    *,
    fmt: str | None = None,
    level: str | None = None,
    secrets: Iterable[str | None] = (),
) -> None:
    """Route structlog (and stdlib logging) to stderr, redacted, as JSON or console lines.

    The one entry point every process calls: given its :class:`Settings`, every secret
    they hold is redacted (:meth:`Settings.secret_values`), so no caller can forget one.
    ``fmt``/``level`` override the settings; ``secrets`` adds values to redact.
    """
    fmt = fmt or (settings.log_format if settings else "json")
    level = level or (settings.log_level if settings else "INFO")
    secrets = [*(settings.secret_values() if settings else ()), *secrets]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            Redactor(secrets),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write() per line, so processes sharing a log file never interleave lines.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
