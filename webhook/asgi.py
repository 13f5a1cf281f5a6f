"""The app factory granian imports: ``webhook.asgi:app_factory`` (``--interface asgi --factory``).

The receiver's WSGI app (:func:`webhook.wsgi.build`) behind
:class:`webhook.bridge.BodyDeadlineBridge`, so a client that stalls mid-body holds a
coroutine for at most ``PINRELAY_WEBHOOK_BODY_TIMEOUT`` seconds, never one of the
``PINRELAY_WEBHOOK_THREADS`` threads the app runs on.
"""

from __future__ import annotations

from .bridge import BodyDeadlineBridge
from .wsgi import build, settings_from_env


def app_factory() -> BodyDeadlineBridge:
    """Build the receiver and its front from the environment; :class:`ConfigError` without Redis."""
    settings = settings_from_env()
    return BodyDeadlineBridge(build(settings), body_limit=settings.webhook_body_limit_bytes,
                              body_timeout_s=settings.webhook_body_timeout_s,
                              threads=settings.webhook_threads)  # fmt: skip
