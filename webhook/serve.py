"""``pinrelay webhook``: the receiver under granian, in the foreground.

The launch itself (port check, JSON logs, metrics directory, ``ready``, the stop with its
SIGKILL grace) is the core's one launcher (:mod:`webhook.http.launcher`), shared with
``pinrelay api``; what is the receiver's own is where it may listen and its metrics port.

Who may listen where (:func:`check_exposure`): without ``PINRELAY_SIGNATURE_SECRET``
anybody who can reach the receiver can settle sends with forged receipts, so it starts
unsigned only on a loopback address, unless ``--insecure-unsigned`` says that is meant.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from worker.config import Settings
from worker.constants import DEFAULT_WEBHOOK_PORT
from worker.errors import ConfigError
from worker.logs import get_logger

from .http import launcher

APP_TARGET: Final = "webhook.rsgi:app_factory"
NAME: Final = "receipt receiver"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): reachable from this machine only."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name, or "" (every interface): not known to be loopback


def check_exposure(settings: Settings, host: str, *, insecure_unsigned: bool = False) -> None:
    """Refuse (:class:`ConfigError`, one line) to take unsigned receipts on a non-loopback address.

    Unsigned, a receipt proves nothing: anyone who reaches the receiver could settle sends
    (issue 10 finding 1). With ``insecure_unsigned`` it starts, and says so at WARNING.
    """
    if settings.signature_secret is not None or is_loopback(host):
        return
    if not insecure_unsigned:
        raise ConfigError(
            f"the receipt receiver would accept unsigned (forgeable) receipts on {host or 'every address'}: "
            "set PINRELAY_SIGNATURE_SECRET to the provider's signature secret, bind a loopback "
            "address, or pass --insecure-unsigned if that is really meant"
        )
    get_logger("webhook.serve").warning(
        "webhook_unsigned_on_public_address", host=host,
        hint="anyone who reaches it can settle sends; set PINRELAY_SIGNATURE_SECRET",
    )


def server(settings: Settings, host: str = "0.0.0.0", port: int = DEFAULT_WEBHOOK_PORT,
           workers: int = 2) -> launcher.Server:
    """The receiver as the launcher runs it (with ``PINRELAY_WEBHOOK_METRICS`` a port, the
    workers' metrics are served there, and they are off the receipt port)."""
    metrics_port = int(settings.webhook_metrics) if settings.webhook_metrics.isdigit() else 0
    return launcher.Server(NAME, APP_TARGET, host, port, workers, logger="webhook.serve",
                           metrics_port=metrics_port)


def serve(
    settings: Settings,
    host: str = "0.0.0.0",
    port: int = DEFAULT_WEBHOOK_PORT,
    workers: int = 2,
    *,
    insecure_unsigned: bool = False,
) -> int:
    """Run granian in the foreground until it exits; its exit status (0 after SIGTERM/SIGINT).

    :class:`ConfigError` (before anything starts) for what :func:`check_exposure` refuses, and
    when a port is already in use.
    """
    check_exposure(settings, host, insecure_unsigned=insecure_unsigned)
    if settings.redis_url is None:
        raise ConfigError("the receipt receiver needs a Redis URL (PINRELAY_REDIS_URL)")
    return launcher.serve(settings, server(settings, host, port, workers))
