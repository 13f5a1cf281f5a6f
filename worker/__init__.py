"""pinrelay's public Python API: send a PIN, follow it, report its conversion; or verify a number.

Names resolve lazily (PEP 562): ``import worker`` loads nothing heavy, so a process that
only needs the foundation (the receipt receiver imports :mod:`worker.config`) never loads
Celery or phonenumbers. ``celery -A worker worker`` finds the app through
:func:`__getattr__`, which builds it from the environment on first use (never at import).

The producer calls below (``send_pin`` ... ``get_verification``) leave the calling process as
it was: they publish through a publish-only Celery app
(:func:`worker.taskqueue.app.publisher_app`) that configures no logging, connects no signal
receiver, changes none of kombu's registries and runs no worker or route checks (a worker
refuses a route without its credentials; a producer can still enqueue). pinrelay's log events
from these calls go through the caller's own structlog configuration.

The stages, in the order a PIN flows through them: :mod:`worker.enqueue` (validate,
limit, store, publish) -> :mod:`worker.taskqueue` (Celery) -> :mod:`worker.send` (the
provider call) -> receipts arrive at :mod:`webhook` -> :mod:`worker.correlate` settles
them into :mod:`worker.records`. :mod:`worker.local` runs it all on one machine,
:mod:`worker.cli` is the ``pinrelay`` command, :mod:`worker.report` reads the records.
:mod:`worker.verify` does the whole verify loop on top of the send path: it generates the
code, sends it, checks it and reports the conversions itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.config import Settings
    from worker.enqueue.producer import PinSpec, Producer
    from worker.errors import (
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
    from worker.states import State
    from worker.verify.errors import ResendRefusedError, UnknownVerificationError, VerificationError
    from worker.verify.service import Verifier

__all__ = [
    # producer API
    "send_pin",
    "send_pins",
    "get_status",
    "wait",
    "report_conversion",
    "Producer",
    "PinSpec",
    # verify API: pinrelay generates, sends and checks the code
    "start_verification",
    "check_verification",
    "resend_verification",
    "get_verification",
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
    "VerificationError",
    "UnknownVerificationError",
    "ResendRefusedError",
]

# name -> the module that defines it; imported on first access.
_LAZY: dict[str, str] = {
    "Producer": "worker.enqueue.producer",
    "PinSpec": "worker.enqueue.producer",
    "Settings": "worker.config",
    "State": "worker.states",
    **{name: "worker.errors" for name in __all__ if name.endswith("Error")},
    **dict.fromkeys(("VerificationError", "UnknownVerificationError", "ResendRefusedError"),
                    "worker.verify.errors"),
}

_producer: Producer | None = None
_verifier: Verifier | None = None
_building = threading.Lock()  # a host's threads calling send_pin at once build one producer


def default_producer() -> Producer:
    """The producer built from the environment (and the runtime file of `pinrelay up`),
    publishing through :func:`worker.taskqueue.app.publisher_app`."""
    global _producer
    with _building:
        if _producer is None:
            from worker.config import Settings
            from worker.enqueue.producer import Producer
            from worker.taskqueue.app import publisher_app

            app = publisher_app(Settings.from_env())
            _producer = Producer(app.pinrelay_settings, app)
        return _producer


def send_pin(to: str, pin: str, client_ref: str | None = None, **options: Any) -> str:
    """Validate and enqueue one PIN; return the request id. See :meth:`Producer.send_pin`."""
    return default_producer().send_pin(to, pin, client_ref, **options)


def send_pins(items: Iterable[PinSpec | Mapping[str, Any]]) -> list[str]:
    """Validate every item, then enqueue them all in one round trip; the ids in order."""
    from worker.enqueue.producer import PinSpec

    specs = [i if isinstance(i, PinSpec) else PinSpec(**i) for i in items]
    return default_producer().send_pins(specs)


def get_status(request_id: str) -> dict[str, Any]:
    """The record of one send, as ``pinrelay status`` prints it."""
    return default_producer().get_status(request_id)


def wait(request_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The record once the send has settled (or when ``timeout`` runs out)."""
    return default_producer().wait(request_id, timeout)


def report_conversion(request_id: str, delivered: bool = True, at: float | None = None) -> None:
    """Enqueue a conversion report: the user typed the PIN in (or never did)."""
    default_producer().report_conversion(request_id, delivered, at)


def default_verifier() -> Verifier:
    """The verifier on the default producer (``PINRELAY_VERIFY_SECRET`` is checked per call)."""
    global _verifier
    producer = default_producer()
    with _building:
        if _verifier is None:
            from worker.verify.service import Verifier

            _verifier = Verifier.for_producer(producer)
        return _verifier


def start_verification(to: str, client_ref: str | None = None, length: int | None = None,
                       ttl: int | None = None) -> str:
    """Generate a code, send it to ``to`` and return the verification id. See :meth:`Verifier.start`."""
    return default_verifier().start(to, client_ref, length, ttl)


def check_verification(verification_id: str, code: str) -> dict[str, Any]:
    """``{"id", "status", "attempts_left"}``; status ``approved`` only for the right code, once."""
    return default_verifier().check(verification_id, code)


def resend_verification(verification_id: str) -> str:
    """Send a new code for the same verification (the old one stops working); the same id."""
    return default_verifier().resend(verification_id)


def get_verification(verification_id: str) -> dict[str, Any]:
    """The verification's state, masked number, sends and times; never its code or hash."""
    return default_verifier().get(verification_id)


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from worker.worker_app import default_app

        return default_app()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'worker' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
