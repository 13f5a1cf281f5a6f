"""The app factory WSGI servers import: ``webhook.wsgi:app_factory``.

granian runs the receiver through :mod:`webhook.rsgi` (the same routes and checks as a
coroutine, with a body deadline granian's WSGI interface lacks); this factory is for any
other WSGI server. Each server worker process calls its factory once. Settings come from the
``PINRELAY_*`` environment (the supervisor always sets ``PINRELAY_REDIS_URL``); the Redis
connection pool is one per process (:func:`webhook.queue.connect`), 2 s socket timeouts,
health-checked.
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


def build(settings: Settings) -> WSGIApplication:
    """Configure logging for this worker process, say so, and build the WSGI receiver."""
    configure_worker(settings)
    return create_app(settings)


def app_factory() -> WSGIApplication:
    """Build the receiver from the environment; :class:`ConfigError` without a Redis URL."""
    return build(settings_from_env())
