"""The app factory granian imports: ``worker.api.wsgi:app_factory`` (``--factory``).

Each granian worker process calls :func:`app_factory` once and gets its own Redis pool and
Celery app (for publishing, when the broker is not the records' Redis). Short Redis
timeouts: a request waiting on a Redis that is gone should become a 503 within seconds.
"""

from __future__ import annotations

import os

import redis

from worker.api.app import ApiApp
from worker.api.keys import ApiKeys
from worker.api.pins import Pins
from worker.api.verifications import Verifications
from worker.config import Settings
from worker.errors import ConfigError
from worker.logs import configure_logging, get_logger

REDIS_SOCKET_TIMEOUT_S = 2.0
REDIS_CONNECT_TIMEOUT_S = 1.0


def build_app(settings: Settings, client: redis.Redis | None = None) -> ApiApp:
    """The API for ``settings`` (its Redis must be resolved); ``client`` defaults to a new pool."""
    from worker.enqueue.producer import Producer
    from worker.redisconn import redis_client
    from worker.taskqueue.app import create_app

    if settings.redis_url is None:
        raise ConfigError("the HTTP API needs a Redis URL (PINRELAY_REDIS_URL)")
    if client is None:
        client = redis_client(settings.redis_url, socket_timeout=REDIS_SOCKET_TIMEOUT_S,
                              socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S)
    producer = Producer(settings, create_app(settings), client)
    keys = ApiKeys(client, settings.key_prefix, rate_per_s=settings.api_rate_per_key)
    pins = Pins(producer)
    verifications = Verifications(producer)
    handlers = {
        "pins.create": pins.create,
        "pins.read": pins.read,
        "verifications.start": verifications.start,
        "verifications.read": verifications.read,
        "verifications.check": verifications.check,
        "verifications.resend": verifications.resend,
    }
    return ApiApp(settings, client, keys, handlers)


def app_factory() -> ApiApp:
    """Build the API from the ``PINRELAY_*`` environment (``pinrelay api`` sets the Redis URL)."""
    settings = Settings.from_env()
    configure_logging(settings)
    get_logger("pinrelay.api").info("api_worker_started", pid=os.getpid(), key_prefix=settings.key_prefix,
                                    rate_per_key=settings.api_rate_per_key)
    return build_app(settings)
