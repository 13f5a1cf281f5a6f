"""The naive send baseline: a bare Celery task doing one ``requests.Session`` POST.

No record, no claim, no rate-limit check, no logging, no task events, Celery's
defaults (early ack): what "just POST it from a Celery task" costs on this
machine, against the same simulator and Redis as pinrelay. The bench enqueues
with :func:`create_app` and runs the worker as ``python -m pinrelay_ops.bench.naive.sends``.
"""

from __future__ import annotations

import os
import sys
from typing import Final

import requests
from celery import Celery

from worker.config import Settings

TASK_NAME: Final = "naive.send"
_sessions: dict[int, requests.Session] = {}


def _session() -> requests.Session:
    """One keep-alive session per (forked) worker process."""
    session = _sessions.get(os.getpid())
    if session is None:
        session = _sessions[os.getpid()] = requests.Session()
    return session


def create_app(settings: Settings) -> Celery:
    app = Celery("naive", broker=settings.effective_broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.queue,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    url = settings.twofa_url
    credentials = {"api_key": settings.api_key, "api_secret": settings.api_secret}
    timeout = (settings.connect_timeout_s, settings.read_timeout_s)

    @app.task(name=TASK_NAME, ignore_result=True, shared=False)
    def send(ref: str, to: str, pin: str) -> None:
        _session().post(url, data={**credentials, "to": to, "pin": pin, "client-ref": ref},
                        timeout=timeout)

    return app


def main() -> int:
    settings = Settings.from_env()
    app = create_app(settings)
    app.worker_main(["worker", "-Q", settings.queue, "--concurrency", str(settings.worker_concurrency),
                     "--pool", "prefork", "--loglevel", "WARNING",
                     "--without-mingle", "--without-gossip"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
