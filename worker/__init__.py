"""pinrelay's worker package: the producer API, the Celery app and the send path.

``celery -A worker worker`` finds the app through :func:`__getattr__`, which
builds it from the environment on first use (never at import).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .config import Settings
from .errors import (
    AbuseLimitError,
    ConfigError,
    PermanentProviderError,
    PinrelayError,
    ProviderError,
    StoreUnavailableError,
    TransientProviderError,
    UnconfirmedSendError,
    UnknownRequestError,
    ValidationError,
)
from .producer import PinSpec, Producer
from .states import State

__all__ = [
    # producer API
    "send_pin",
    "send_pins",
    "get_status",
    "wait",
    "report_conversion",
    "Producer",
    "PinSpec",
    # configuration and states
    "Settings",
    "State",
    # errors
    "PinrelayError",
    "ConfigError",
    "ValidationError",
    "AbuseLimitError",
    "UnknownRequestError",
    "StoreUnavailableError",
    "ProviderError",
    "TransientProviderError",
    "PermanentProviderError",
    "UnconfirmedSendError",
]

_producer: Producer | None = None


def default_producer() -> Producer:
    """The producer built from the environment (and the runtime file of `pinrelay up`)."""
    global _producer
    if _producer is None:
        from .celery_app import default_app

        app = default_app()
        _producer = Producer(app.pinrelay_settings, app)
    return _producer


def send_pin(to: str, pin: str, client_ref: str | None = None, **options: Any) -> str:
    """Validate and enqueue one PIN; return the request id. See :meth:`Producer.send_pin`."""
    return default_producer().send_pin(to, pin, client_ref, **options)


def send_pins(items: Iterable[PinSpec | Mapping[str, Any]]) -> list[str]:
    specs = [i if isinstance(i, PinSpec) else PinSpec(**i) for i in items]
    return default_producer().send_pins(specs)


def get_status(request_id: str) -> dict[str, Any]:
    return default_producer().get_status(request_id)


def wait(request_id: str, timeout: float = 30.0) -> dict[str, Any]:
    return default_producer().wait(request_id, timeout)


def report_conversion(request_id: str, delivered: bool = True, at: float | None = None) -> None:
    default_producer().report_conversion(request_id, delivered, at)


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from .celery_app import default_app

        return default_app()
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
