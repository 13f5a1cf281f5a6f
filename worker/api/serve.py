"""``pinrelay api``: the HTTP API under granian in the foreground.

The core's one launcher (:mod:`webhook.http.launcher`), as for the receiver: the port checked
first, JSON logs, the workers' metrics added up, one ``ready`` event, and the stop with its
SIGKILL grace.
"""

from __future__ import annotations

from typing import Final

from webhook.http import launcher
from worker.config import Settings
from worker.constants import DEFAULT_API_PORT
from worker.errors import ConfigError

APP_TARGET: Final = "worker.api.rsgi:app_factory"


def server(host: str = "127.0.0.1", port: int = DEFAULT_API_PORT, workers: int = 1) -> launcher.Server:
    """The API as the launcher runs it."""
    return launcher.Server("HTTP API", APP_TARGET, host, port, workers, logger="pinrelay.api")


def serve(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_API_PORT, workers: int = 1) -> int:
    """Run granian until it exits; its exit status (0 after SIGTERM/SIGINT)."""
    if settings.redis_url is None:
        raise ConfigError("the HTTP API needs a Redis URL (PINRELAY_REDIS_URL, or a running `pinrelay up`)")
    return launcher.serve(settings, server(host, port, workers))
