"""The receiver for WSGI servers: ``webhook.wsgi:app_factory``.

granian runs the receiver through its RSGI front (:mod:`webhook.rsgi`: the same app on the
same HTTP core, with a body deadline WSGI cannot have); this factory is for anyone who mounts
the receiver under their own WSGI server, behind a proxy that buffers whole requests. Each
server worker process calls its factory once. Settings come from the ``PINRELAY_*``
environment (the launcher always sets ``PINRELAY_REDIS_URL``); the Redis connection pool is
one per process (:func:`webhook.queue.connect`), 2 s socket timeouts, health-checked.
"""

from __future__ import annotations

import os
from wsgiref.types import WSGIApplication

from worker.config import Settings
from worker.errors import ConfigError
from worker.logs import configure_logging, get_logger

from .app import create_app


def settings_from_env() -> Settings:
    """This worker process's settings; :class:`ConfigError` without a Redis URL."""
    settings = Settings.from_env()
    if settings.redis_url is None:
        raise ConfigError(
            "PINRELAY_REDIS_URL is not set: the receipt receiver needs the Redis that holds "
            "the result stream (`pinrelay webhook` / `pinrelay up` set it for you)"
        )
    return settings


def configure_worker(settings: Settings, interface: str = "wsgi") -> None:
    """Configure logging for this worker process, and say that it started."""
    configure_logging(settings, stdlib=True)
    get_logger("webhook.receiver").info(
        "receiver_worker_started",
        pid=os.getpid(),
        interface=interface,
        key_prefix=settings.key_prefix,
        signed=settings.signature_secret is not None,
        signature_method=settings.signature_method,
    )


def app_factory() -> WSGIApplication:
    """Build the receiver from the environment; :class:`ConfigError` without a Redis URL."""
    settings = settings_from_env()
    configure_worker(settings)
    return create_app(settings)
