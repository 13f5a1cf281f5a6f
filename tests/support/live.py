"""Live stacks for tests: real Celery workers (and optionally the receipt receiver and the
correlator) on isolated settings in the run's Redis, sending to an in-process simulator.

Workers take seconds to start, so integration tests build one per module; fault tests
build several and must stop every one whatever happened (:class:`Stacks`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from ops.simulator import Simulator
from tests.support.settings import cleanup, isolated_settings
from tests.support.sim import receipts_to
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.errors import UnknownRequestError
from worker.local.supervisor import Stack
from worker.redisconn import redis_client
from worker.taskqueue.app import create_app


@dataclass
class LiveStack:
    stack: Stack
    settings: Settings
    app: Celery
    producer: Producer
    sim: Simulator
    log_dir: Path

    def worker_log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.log_dir.glob("*.log"))

    def record(self, request_id: str) -> dict[str, Any] | None:
        try:
            return self.producer.get_status(request_id)
        except UnknownRequestError:
            return None

    def wait_state(self, request_id: str, states: set[str], timeout: float = 20.0) -> dict[str, Any]:
        """Poll until the record exists and is in one of ``states``."""
        found: dict[str, Any] = wait_for(
            lambda: (r := self.record(request_id)) is not None and r["state"] in states and r,
            timeout, f"{request_id} to reach {states}",
        )  # fmt: skip
        return found


def start_live(redis_url: str, sim: Simulator, log_dir: Path, *, workers: int = 1,
               receiver: bool = False, **overrides: Any) -> LiveStack:  # fmt: skip
    """A stack on isolated settings (plus ``overrides``) that sends to ``sim``: ``workers``
    Celery workers and, with ``receiver``, the receipt receiver and the correlator, with
    ``sim``'s receipts pointed at that receiver. Returns once every worker answers; a stack
    that fails half-way through starting is stopped before the error goes on."""
    settings = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url, **overrides)
    stack = Stack(settings, log_dir=log_dir)
    try:
        stack.ensure_redis()
        if receiver:
            stack.start_webhook()
            stack.start_correlator()
            receipts_to(sim, stack.webhook_url or "")
        for i in range(workers):
            stack.start_worker(name=f"worker{i}")
        app = create_app(stack.settings)
        stack.wait_workers(app, count=workers)
    except BaseException:
        stack.stop()
        raise
    return LiveStack(stack, stack.settings, app, Producer(stack.settings, app), sim, log_dir)


def stop_live(live: LiveStack) -> None:
    """Stop the stack's processes, then delete every key it wrote."""
    live.stack.stop()
    live.producer.close()
    try:
        client = redis_client(live.settings.redis_url or "", socket_connect_timeout=1)
        try:
            cleanup(client, live.settings)
        finally:
            client.close()
    except redis.RedisError:
        pass  # the test's own Redis is gone already: nothing left to clean


class Stacks:
    """Starts live stacks, each logging under its own folder of ``log_root``, and stops every
    one of them in :meth:`close`, whatever happened in between."""

    def __init__(self, log_root: Path) -> None:
        self._log_root = log_root
        self._count = 0
        self._started: list[LiveStack] = []

    def start(self, redis_url: str, sim: Simulator, *, workers: int = 1, receiver: bool = False,
              **overrides: Any) -> LiveStack:  # fmt: skip
        """:func:`start_live` under ``log_root/stackN``."""
        log_dir = self._log_root / f"stack{self._count}"
        self._count += 1
        live = start_live(redis_url, sim, log_dir, workers=workers, receiver=receiver, **overrides)
        self._started.append(live)
        return live

    __call__ = start

    def close(self) -> None:
        """Stop the stacks, the last started first."""
        while self._started:
            stop_live(self._started.pop())


#: What the ``live_stacks`` fixture gives a test: ``start(redis_url, sim, workers=N,
#: receiver=False, **settings)``.
StartLive = Callable[..., LiveStack]
