"""The API granian serves: ``worker.api.rsgi:app_factory`` (``--interface rsgi --factory``).

Each granian worker process calls :func:`app_factory` once and gets its own Redis pool, Celery
app (for publishing, when the broker is not the records' Redis) and handler threads
(:data:`HANDLER_THREADS`). Short Redis timeouts: a request waiting on a Redis that is gone
should become a 503 within seconds.
"""

from __future__ import annotations

import os
from typing import Final

import redis

from webhook.http.core import HttpCore
from webhook.http.rsgi import RSGIFront, tune_worker_process
from worker.api.app import Api
from worker.api.auth import KeyAuth
from worker.api.guard import GuardAdmin
from worker.api.hooks.generic import GenericHook
from worker.api.hooks.sender import HookSender
from worker.api.hooks.supabase import SupabaseHook
from worker.api.keys import ApiKeys
from worker.api.pins import Pins
from worker.api.verifications import Verifications
from worker.config import Settings
from worker.errors import ConfigError
from worker.logs import configure_logging, get_logger

REDIS_SOCKET_TIMEOUT_S: Final = 2.0
REDIS_CONNECT_TIMEOUT_S: Final = 1.0
# Handler threads per worker process. They mostly wait on Redis; a body being read holds none
# (the event loop reads it), so these bound only requests whose body has arrived.
HANDLER_THREADS: Final = 16


def build_app(settings: Settings, client: redis.Redis | None = None) -> Api:
    """The API for ``settings`` (its Redis must be resolved); ``client`` defaults to a new pool."""
    from worker.enqueue.producer import Producer
    from worker.redisconn import redis_client
    from worker.taskqueue.app import publisher_app

    if settings.redis_url is None:
        raise ConfigError("the HTTP API needs a Redis URL (PINRELAY_REDIS_URL)")
    if client is None:
        client = redis_client(settings.redis_url, socket_timeout=REDIS_SOCKET_TIMEOUT_S,
                              socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S)
    # a producer like any other: publishes, runs no worker or route checks (those are the worker's)
    producer = Producer(settings, publisher_app(settings), client)
    keys = ApiKeys(client, settings.key_prefix, rate_per_s=settings.api_rate_per_key)
    pins = Pins(producer)
    verifications = Verifications(producer)
    sender, auth = HookSender(producer), KeyAuth(keys, settings.api_rate_per_key)
    guard = GuardAdmin(settings, client)
    handlers = {
        "pins.create": pins.create,
        "pins.read": pins.read,
        "verifications.start": verifications.start,
        "verifications.read": verifications.read,
        "verifications.check": verifications.check,
        "verifications.resend": verifications.resend,
        "hooks.supabase": SupabaseHook(settings, sender, auth).send_sms,
        "hooks.generic": GenericHook(settings, sender, auth).send_sms,
        "guard.status": guard.status,
        "guard.unblock": guard.unblock,
        "guard.allow": guard.allow,
    }
    return Api(settings, client, keys, handlers)


def api_core(settings: Settings, app: Api, threads: int = HANDLER_THREADS) -> HttpCore:
    """``app`` on the HTTP core: bodies under the receiver's deadline, handlers on ``threads``."""
    return HttpCore(app, body_timeout_s=settings.webhook_body_timeout_s, threads=threads)


def app_factory() -> RSGIFront:
    """Build the API from the ``PINRELAY_*`` environment (``pinrelay api`` sets the Redis URL)."""
    settings = Settings.from_env()
    tune_worker_process()
    configure_logging(settings)
    get_logger("pinrelay.api").info("api_worker_started", pid=os.getpid(), key_prefix=settings.key_prefix,
                                    rate_per_key=settings.api_rate_per_key)
    return RSGIFront(api_core(settings, build_app(settings)))
