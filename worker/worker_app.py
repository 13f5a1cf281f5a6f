"""The worker's Celery app: every pinrelay task, on :func:`worker.taskqueue.app.worker_base_app`.

The composition root of the tasks: the task queue's own (``pinrelay.send_pin``,
``pinrelay.report_conversion``, :mod:`worker.taskqueue.tasks`), the outcome callbacks'
(``pinrelay.deliver_callback``, :mod:`worker.callbacks.delivery`) and the verify flow's
(``pinrelay.verify_expire``, :mod:`worker.verify.tasks`). It sits above those packages, so
the task queue never imports the layers that publish through it.
"""

from __future__ import annotations

from celery import Celery

from worker.config import Settings
from worker.taskqueue.app import worker_base_app

__all__ = ["create_app", "default_app"]


def create_app(settings: Settings) -> Celery:
    """The worker's app: pinrelay's tasks, for ``settings``' Redis and queue, checked for a worker.

    It also publishes (the correlator's republishing, the verify expiry, Flower)."""
    from worker.callbacks.delivery import register_callback_task
    from worker.taskqueue.tasks import register_tasks
    from worker.verify.tasks import register_verify_tasks

    app = worker_base_app(settings)
    settings = app.pinrelay_settings
    register_tasks(app, settings)
    register_callback_task(app, settings)
    register_verify_tasks(app, settings)
    return app


_default: Celery | None = None


def default_app() -> Celery:
    """The worker's app built from the environment, for ``celery -A worker worker`` (and
    ``pinrelay worker``): a process pinrelay owns, so it configures logging too."""
    global _default
    if _default is None:
        from worker.logs import configure_logging

        settings = Settings.from_env()
        configure_logging(settings)  # every secret of the settings redacted (the verify secret too)
        _default = create_app(settings)
    return _default
