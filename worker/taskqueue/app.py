"""The Celery app factory, and the lazily built default app for ``celery -A worker``.

Nothing is built at import time: :func:`create_app` takes a :class:`Settings`,
so tests and embedders build their own app against their own Redis, and
``celery -A worker worker`` gets one from the environment on first use.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from worker import constants as c
from worker.config import Settings
from worker.errors import ConfigError
from worker.local.runtime import require_redis
from worker.redisconn import CONNECT_TIMEOUT_S, HEALTH_CHECK_INTERVAL_S, SOCKET_TIMEOUT_S
from worker.send.retry import worst_case_schedule_s


def check_schedule_fits(settings: Settings) -> None:
    """Refuse a retry schedule longer than the broker's visibility timeout.

    Past the visibility timeout Celery hands an unacknowledged task to another
    worker while the first may still be sending: that is a double PIN.
    """
    worst = worst_case_schedule_s(settings)
    if settings.visibility_timeout_s >= settings.pin_expiry_s:
        raise ConfigError(
            f"PINRELAY_VISIBILITY_TIMEOUT ({settings.visibility_timeout_s}s) must be shorter than "
            f"PINRELAY_PIN_EXPIRY ({settings.pin_expiry_s}s): tasks of a crashed worker are "
            "redelivered only after the visibility timeout"
        )
    if worst >= settings.visibility_timeout_s:
        raise ConfigError(
            f"the worst-case retry schedule ({worst:.0f}s: PINRELAY_RETRY_DEADLINE, "
            f"PINRELAY_MAX_ATTEMPTS, PINRELAY_BACKOFF_MAX and the HTTP timeouts) must be shorter "
            f"than PINRELAY_VISIBILITY_TIMEOUT ({settings.visibility_timeout_s}s)"
        )


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.effective_broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": c.UNACKED_RESTORE_INTERVAL_S,
            "unacked_restore_throttle": 1,
            # kombu's bookkeeping of unacknowledged tasks, under our prefix: deployments
            # sharing a Redis must not restore each other's in-flight tasks.
            "unacked_key": f"{settings.key_prefix}unacked",
            "unacked_index_key": f"{settings.key_prefix}unacked_index",
            "unacked_mutex_key": f"{settings.key_prefix}unacked_mutex",
            # kombu's own Redis connections, with the timeouts of worker.redisconn
            "socket_timeout": SOCKET_TIMEOUT_S,
            "socket_connect_timeout": CONNECT_TIMEOUT_S,
            "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,  # outcomes live in our records; a PIN never in a result
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_default_queue": settings.queue,
        "task_routes": {
            c.TASK_SEND_PIN: {"queue": settings.queue},
            c.TASK_REPORT_CONVERSION: {"queue": settings.queue},
        },
        # No task-sent events: they cost a publish per enqueue; Flower's task pages come from
        # the workers' received/started/succeeded events.
        "task_send_sent_event": False,
        # Task events feed Flower; they cost the worker ~18% CPU per send, so a deployment
        # without Flower can turn them off with PINRELAY_TASK_EVENTS=0.
        "worker_send_task_events": settings.task_events,
        "worker_prefetch_multiplier": settings.prefetch_multiplier,
        "worker_concurrency": settings.worker_concurrency,
        "worker_pool": settings.worker_pool,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_track_started": False,
        "event_queue_expires": 60,
        "event_queue_ttl": 5,
    }


def create_app(settings: Settings) -> Celery:
    """A Celery app with pinrelay's tasks, for ``settings``' Redis and queue."""
    settings = require_redis(settings)
    check_schedule_fits(settings)
    from worker.taskqueue.transport import install

    install()  # redis:// without a Redis client object per kombu operation
    app = Celery("pinrelay", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.pinrelay_settings = settings
    from worker.taskqueue.tasks import register_tasks

    register_tasks(app, settings)
    return app


_default: Celery | None = None


def default_app() -> Celery:
    """The app built from the environment (``celery -A worker`` and ``worker.send_pin``)."""
    global _default
    if _default is None:
        from worker.logs import configure_logging

        settings = Settings.from_env()
        configure_logging(settings)  # every secret of the settings redacted (the verify secret too)
        _default = create_app(settings)
    return _default
