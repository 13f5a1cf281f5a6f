"""pinrelay's Celery apps: their configuration, a publish-only app for producers, a worker's base.

Nothing is built at import time: :func:`publisher_app` (what :func:`worker.send_pin` and the
other producer calls publish through) and :func:`worker_base_app` (which
:func:`worker.worker_app.create_app` gives its tasks) take a :class:`Settings`, so tests and
embedders build their own against their own Redis.

Neither changes anything outside its app: no logging configuration, no signal receiver, no
kombu registry (the transport is named by ``broker_transport``,
:func:`worker.taskqueue.transport.transport_for`), so a service that enqueues through
pinrelay keeps its own logging and its own Celery apps as they were. Logging belongs to the
processes pinrelay owns: :func:`worker.worker_app.default_app` (``celery -A worker``), and the
``pinrelay`` commands (:func:`worker.cli.common.load_settings`).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.app.amqp import AMQP
from celery.app.log import Logging

from worker import constants as c
from worker.config import Settings
from worker.redisconn import CONNECT_TIMEOUT_S, HEALTH_CHECK_INTERVAL_S, SOCKET_TIMEOUT_S, sentinel_options
from worker.redisurl import is_sentinel_url, is_tls_url, parse_sentinel_url
from worker.taskqueue.transport import Connection, transport_for


def broker_ha_options(settings: Settings) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """kombu's Sentinel transport options and ``broker_use_ssl`` for the broker URL.

    A Sentinel broker URL in kombu's form cannot carry the primary's name, TLS or the CA
    (:func:`worker.redisurl.kombu_broker_url`), so they travel as options: ``master_name``,
    ``sentinel_kwargs`` (how to reach the Sentinels, as :func:`worker.redisconn.sentinel_options`
    for every other client) and, for ``rediss``, certificate checks on with
    ``PINRELAY_REDIS_CA_FILE`` (``ssl_*`` options in the URL win, as in redis-py).
    """
    url = settings.broker_url or settings.redis_url or ""
    transport: dict[str, Any] = {}
    if is_sentinel_url(url):
        transport = {"master_name": parse_sentinel_url(url).master, "sentinel_kwargs": sentinel_options(url)}
    if not is_tls_url(url):
        return transport, None
    use_ssl: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if settings.redis_ca_file:
        use_ssl["ssl_ca_certs"] = settings.redis_ca_file
    use_ssl.update((k, v) for k, v in sentinel_options(url).items() if k.startswith("ssl_"))
    return transport, use_ssl


def celery_config(settings: Settings) -> dict[str, Any]:
    ha_transport, use_ssl = broker_ha_options(settings)
    return {
        "broker_url": settings.effective_broker_url,
        # redis:// and sentinel:// on our transport (one client per channel, plain-pipeline
        # acks), named here rather than in kombu's alias table, which other apps share.
        "broker_transport": transport_for(settings.effective_broker_url),
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
            **ha_transport,
        },
        "broker_use_ssl": use_ssl or False,  # Celery's default: no TLS
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_backend": None,
        "task_ignore_result": True,  # outcomes live in our records; a PIN never in a result
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_default_queue": settings.queue,
        # Sends on their queue; everything else on the callbacks queue, which a pool of its own
        # consumes (`pinrelay worker --callbacks`): a PIN never waits behind a slow callback.
        "task_routes": {
            c.TASK_SEND_PIN: {"queue": settings.queue},
            c.TASK_REPORT_CONVERSION: {"queue": settings.callback_queue_name},
            c.TASK_DELIVER_CALLBACK: {"queue": settings.callback_queue_name},
            c.TASK_VERIFY_EXPIRE: {"queue": settings.callback_queue_name},
        },
        # No task-sent events: they cost a publish per enqueue; Flower's task pages come from
        # the workers' received/started/succeeded events.
        "task_send_sent_event": False,
        # Task events feed Flower; a deployment without Flower can turn them off with
        # PINRELAY_TASK_EVENTS=0.
        "worker_send_task_events": settings.task_events,
        # ... published in batches (worker/taskqueue/events.py): one publish per window, not two per send
        "worker_consumer": "worker.taskqueue.events:BatchedEventsConsumer",
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


def _own_logging(**_: Any) -> None:
    """Celery's ``setup_logging`` signal, while our worker sets up logging: the process is ours.

    With a receiver connected Celery leaves the root logger alone; its own lines (and
    kombu's, and Python warnings such as its SecurityWarning) go through structlog instead,
    as JSON when ``PINRELAY_LOG_FORMAT=json``.
    """
    from worker.logs import capture_stdlib

    capture_stdlib()


@contextmanager
def _receiver(signal: Any, receiver: Any) -> Iterator[None]:
    signal.connect(receiver, weak=False)
    try:
        yield
    finally:
        signal.disconnect(receiver)


class WorkerLogging(Logging):  # type: ignore[misc]  # Celery is untyped
    """Celery's logging set-up for a worker of *our* app: ``setup_logging`` answered by
    :func:`_own_logging`, connected only for that call, so a worker of another app in the same
    process (an embedding service's) sets up its logging as if pinrelay were not there."""

    def setup_logging_subsystem(self, *args: Any, **kwargs: Any) -> Any:
        from celery.signals import setup_logging

        with _receiver(setup_logging, _own_logging):
            return super().setup_logging_subsystem(*args, **kwargs)


class PinrelayAMQP(AMQP):  # type: ignore[misc]
    """Celery's messaging front, with connections that show our transport as ``redis://``."""

    Connection = Connection


def json_console() -> None:
    """JSON logs: Celery's few direct terminal writes (shutdown notices) become JSON events.

    ``celery.apps.worker.safe_say`` writes "worker: Warm shutdown (MainProcess)" and
    the like straight to a file descriptor from signal handlers; the replacement does
    the same (one ``os.write``, safe in a handler), as one JSON line on stderr.
    """
    import datetime
    import json
    import os

    from celery.apps import worker as celery_worker

    def notice(msg: str, f: Any = None) -> None:
        now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        line = {"event": "celery_notice", "message": msg.strip(), "level": "info", "timestamp": now}
        os.write(2, (json.dumps(line) + "\n").encode())

    celery_worker.safe_say = notice


def _app(settings: Settings, **celery_options: Any) -> Celery:
    """A Celery app for ``settings``' broker and queue, with no tasks: nothing global is touched.

    No fixups: Celery's Django fixup would connect handlers to Celery's global signals for
    this app in a Django process (the host's own app has its own)."""
    app = Celery("pinrelay", set_as_current=False, fixups=[], amqp=f"{__name__}:PinrelayAMQP",
                 **celery_options)
    app.conf.update(celery_config(settings))
    app.pinrelay_settings = settings
    return app


def publisher_app(settings: Settings) -> Celery:
    """The publish-only app of a producer: pinrelay's messages, queue and broker options, no tasks.

    No worker checks (retry schedule, routes and their credentials: the worker refuses those),
    no logging set-up, no signal receivers, no change to kombu's registries.
    """
    return _app(settings.require_redis())


def worker_base_app(settings: Settings) -> Celery:
    """A worker's app before its tasks (:func:`worker.worker_app.create_app` adds them):
    ``settings`` checked for a worker (refused, before anything is built, without a Redis or
    with a retry schedule that could send a PIN twice), and a worker started from it routes
    the standard library's logging through ours (:class:`WorkerLogging`)."""
    settings.require_redis().check_for_worker()
    return _app(settings, log=f"{__name__}:WorkerLogging")
