"""structlog set-up: JSON lines in production, and redaction that cannot be skipped.

Every event passes :class:`Redactor` last before rendering, so a PIN, an API
secret or a signature secret never reaches a log line, whichever key or
message it hides in. Phone numbers are masked to their last four digits hidden:
by field (``to``, ``msisdn``, ``number``), and in free text only where a digit run
stands alone, so the digits inside a request id or a message-id are never touched.

A process pinrelay owns (every ``pinrelay`` command, a granian worker, a Celery
worker) also routes the standard library's logging and Python's warnings through
the same redaction and renderer (``stdlib=True``, or :func:`capture_stdlib`), so with
``PINRELAY_LOG_FORMAT=json`` Celery's, kombu's and granian's lines are JSON too.
A service that only imports pinrelay to enqueue keeps its own logging untouched.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from types import TracebackType
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
# A phone number quoted inside free text (a provider's error-text, a response snippet): a run
# of 11-15 digits that stands alone, not one inside a longer token (a hex id, a UUID group).
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.-])(\+?\d{7,11})(\d{4})(?![\w-]|\.\d)")
_ID_SUFFIXES = ("_id", "-id", "Id", "ID", "_ids", "ids")
_STDLIB_LEVEL_FLOOR = logging.WARNING  # Celery's, kombu's own lines: warnings and worse


def _is_identifier(key: str) -> bool:
    """``request_id``, ``message-id``, ``messageId``, ``ids``: values never masked as numbers."""
    return key == "id" or key.endswith(_ID_SUFFIXES)


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
        if key in NUMBER_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
            return mask_number(str(value))
        if isinstance(value, str):
            return self._scrub(value, numbers=not _is_identifier(key))
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        if isinstance(value, BaseException):
            return self._scrub(f"{type(value).__name__}: {value}")
        return value

    def _scrub(self, text: str, *, numbers: bool = True) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _PIN_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, text)
        return _NUMBER_IN_TEXT.sub(lambda m: m.group(1) + "****", text) if numbers else text


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def _formatter(redactor: Redactor, fmt: str) -> logging.Formatter:
    """Standard-library records rendered like our events: level, logger, time, redacted."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redactor,
            _renderer(fmt),
        ],
    )


class JsonFormatter(logging.Formatter):
    """For servers configured by ``logging.config.dictConfig`` (granian's ``--log-config``):
    their records as the same redacted JSON lines as ours."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._inner = _formatter(Redactor(), "json")

    def format(self, record: logging.LogRecord) -> str:
        return self._inner.format(record)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (pytest swaps it per test)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_state: dict[str, Any] = {"redactor": Redactor(), "fmt": "json", "level": logging.INFO}


def capture_stdlib() -> None:
    """Route stdlib logging, warnings and uncaught exceptions through our pipeline (idempotent).

    Only for processes pinrelay owns: it replaces the handler it installed before, never
    anyone else's, and sets the root level to warnings (or the configured level if higher).
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _CurrentStderr)]:
        root.removeHandler(handler)
    handler = _CurrentStderr()
    handler.setFormatter(_formatter(_state["redactor"], _state["fmt"]))
    root.addHandler(handler)
    root.setLevel(max(_STDLIB_LEVEL_FLOOR, _state["level"]))
    logging.captureWarnings(True)
    if _state["fmt"] == "json":
        sys.excepthook = _log_uncaught
        threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def _log_uncaught(kind: type[BaseException], value: BaseException | None,
                  tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value or kind(), tb)
        return
    get_logger("pinrelay").critical("uncaught_exception", exc_info=(kind, value, tb))


def configure_logging(
    settings: Settings | None = None,
    *,
    fmt: str | None = None,
    level: str | None = None,
    secrets: Iterable[str | None] = (),
    stdlib: bool = False,
) -> None:
    """Route structlog to stderr, redacted, as JSON or console lines.

    The one entry point every process calls: given its :class:`Settings`, every secret
    they hold is redacted (:meth:`Settings.secret_values`), so no caller can forget one.
    ``fmt``/``level`` override the settings; ``secrets`` adds values to redact;
    ``stdlib`` also captures the standard library's logging (:func:`capture_stdlib`).
    """
    fmt = fmt or (settings.log_format if settings else "json")
    level = level or (settings.log_level if settings else "INFO")
    secrets = [*(settings.secret_values() if settings else ()), *secrets]
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    redactor = Redactor(secrets)
    _state.update(redactor=redactor, fmt=fmt, level=numeric)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redactor,
            _renderer(fmt),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write() per line, so processes sharing a log file never interleave lines.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    if stdlib:
        capture_stdlib()


def log_ready(log: Any, settings: Settings, **details: Any) -> None:
    """The one `ready` event a process logs once it serves: what it runs with, secrets hidden."""
    log.info("ready", **details, settings=settings.summary())


class _Logger:
    """structlog's logger ``name`` once anyone configured structlog, else the standard library's.

    pinrelay's processes configure structlog first thing (:func:`configure_logging`), and so
    do services that use structlog: their events go through that configuration. A service
    that embeds the producer and never set up structlog would otherwise get structlog's
    default, lines printed on its stdout; instead pinrelay's events go to the standard
    library's logger ``name`` (redacted, one key=value line), where its own logging set-up
    sends them (nowhere below WARNING unless it asks). Decided at each call, so a process
    that configures structlog later is heard from then on.
    """

    __slots__ = ("_context", "_name", "_proxy")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._context = context or {}
        self._proxy: Any = None

    def bind(self, **values: Any) -> Any:
        """Once structlog is configured, structlog's own bound logger (its per-process cache
        applies: a bind per send costs a dict, not a logger); until then another of these."""
        if self._proxy is not None or structlog.is_configured():
            return self._structlog().bind(**values)
        return _Logger(self._name, {**self._context, **values})

    def _structlog(self) -> Any:
        if self._proxy is None:
            self._proxy = structlog.get_logger(self._name, **self._context)
        return self._proxy

    def __getattr__(self, method: str) -> Any:
        if self._proxy is None and not structlog.is_configured():
            return getattr(_stdlib_logger(self._name).bind(**self._context), method)
        return getattr(self._structlog(), method)


def _stdlib_logger(name: str) -> Any:
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.stdlib.filter_by_level, structlog.processors.format_exc_info,
                    _state["redactor"], structlog.processors.KeyValueRenderer(key_order=["event"])],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def get_logger(name: str) -> Any:
    """pinrelay's logger ``name``: see :class:`_Logger` for where its events go."""
    return _Logger(name)
