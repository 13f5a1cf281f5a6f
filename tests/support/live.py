"""Live stacks for tests: real Celery workers (and optionally the receipt receiver and the
correlator) on isolated settings in the run's Redis, sending to an in-process simulator.

Workers take seconds to start, so integration tests build one per module; fault tests
build several and must stop every one whatever happened (:class:`Stacks`). A stack counts as
started when each of its workers logged its own ``ready`` event (:func:`wait_ready`), and is
stopped with every process shutting down at once (:func:`stop_stack`).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from pinrelay_ops.simulator import Simulator
from tests.support.settings import cleanup, isolated_settings
from tests.support.sim import receipts_to
from tests.support.waiting import poll, wait_for
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.errors import UnknownRequestError
from worker.local.supervisor import Managed, Stack
from worker.redisconn import redis_client
from worker.worker_app import create_app


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
        )
        return found


def _logged_ready(proc: Managed) -> bool:
    """Whether ``proc`` logged its ``ready`` event: a worker's is Celery's ``worker_ready`` (it
    consumes its queue), found by its node name, unique per start (``--name <name>-<hex>@%h``);
    the correlator's, once its loop runs."""
    if proc.log_path is None or not proc.log_path.exists():
        return False
    node = proc.argv[proc.argv.index("--name") + 1].partition("@")[0] + "@" if "--name" in proc.argv else ""
    for line in proc.log_path.read_text(errors="replace").splitlines():
        if '"ready"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        ours = isinstance(event, dict) and str(event.get("node", "")).startswith(node)
        if ours and event.get("event") == "ready":
            return True
    return False


def wait_ready(stack: Stack, app: Celery, workers: Sequence[Managed], timeout_s: float = 60.0, *,
               others: Sequence[Managed] = ()) -> None:
    """Until every one of ``workers`` consumes its queue (and each of ``others``, a correlator,
    runs its loop).

    With JSON logs (the test default) each process's own ``ready`` line is polled for, so the
    stack is in use within ~50 ms of the last one being ready, and a worker of another stack
    on the same Redis cannot stand in for one of ours. Otherwise Celery's ping
    (:meth:`Stack.wait_workers`), which takes half a second per round, and ``others`` are not
    waited for. A process that exits first fails at once, naming its log."""
    if stack.settings.log_format != "json" or any(p.log_path is None for p in [*workers, *others]):
        stack.wait_workers(app, count=len(workers), timeout_s=timeout_s)
        return
    deadline = time.monotonic() + timeout_s
    pending = [*workers, *others]
    while pending:
        pending = [p for p in pending if not _logged_ready(p)]
        for proc in pending:
            if not proc.alive:
                code = proc.process.returncode if proc.process else None
                raise AssertionError(f"{proc.name} exited with {code}; see {proc.log_path}")
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"{[p.name for p in pending]} not ready within {timeout_s}s")
        if pending:
            time.sleep(0.05)


def wait_idle(client: redis.Redis, settings: Settings, timeout_s: float = 2.0) -> bool:
    """Until the broker holds no task of these settings that a worker took and has not acknowledged
    (kombu's ``unacked`` hash, under the key prefix), at most ``timeout_s``; whether it emptied.

    Tasks are acknowledged late, by the worker's main process, once the pool process's result
    has reached it. A warm shutdown that starts while that result is on its way can hang for
    good (billiard then reads half a message: ``UnpicklingError``, and only a second SIGTERM ends
    the worker), which a test that stops its stack right after its last send settled hit about
    one run in four."""
    key = f"{settings.key_prefix}unacked"
    try:
        return bool(poll(lambda: client.hlen(key) == 0, timeout_s))
    except redis.RedisError:
        return False  # the test's Redis is gone or unreachable: nothing to wait for


def stop_stack(stack: Stack, client: redis.Redis | None = None, timeout_s: float = 30.0) -> None:
    """:meth:`Stack.stop`, with the shutdowns overlapping: a simulator process first (no more
    receipts), then (with ``client``, once the workers are idle: :func:`wait_idle`) SIGTERM to
    every other process at once (Celery's warm shutdown, the servers' graceful stop), then the
    waits; Redis last. A prefork worker takes ~3 s to stop (each pool process sleeps 1 s before
    it exits), so one after the other a stack of four workers and a receiver took ~15 s. A
    process still running after ``timeout_s`` is left to :meth:`Stack.stop` (SIGTERM again,
    then SIGKILL of its group)."""
    sim = stack.processes.get("sim")
    if sim is not None:
        sim.stop()
    if client is not None:
        wait_idle(client, stack.settings)
    running = [p.process for p in stack.processes.values() if p.alive and p.process is not None]
    for process in running:
        process.terminate()  # the leader only, as Managed.stop does
    deadline = time.monotonic() + timeout_s
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    stack.stop()


def start_live(redis_url: str, sim: Simulator, log_dir: Path, *, workers: int = 1,
               receiver: bool = False, callbacks: bool = False, **overrides: Any) -> LiveStack:
    """A stack on isolated settings (plus ``overrides``) that sends to ``sim``: ``workers``
    Celery workers, with ``callbacks`` the worker of the callbacks queue (outcome callbacks,
    conversion reports, the verify expiry) and, with ``receiver``, the receipt receiver and the
    correlator, with ``sim``'s receipts pointed at that receiver. Returns once every worker
    answers; a stack that fails half-way through starting is stopped before the error goes on."""
    settings = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url, **overrides)
    stack = Stack(settings, log_dir=log_dir)
    try:
        stack.ensure_redis()
        # The workers boot while the receiver starts: nothing is sent before both are up.
        started = [stack.start_worker(name=f"worker{i}") for i in range(workers)]
        if callbacks:
            started.append(stack.start_worker(name="callbacks", concurrency=2, callbacks=True))
        others = []
        if receiver:
            stack.start_webhook()
            others.append(stack.start_correlator())
            receipts_to(sim, stack.webhook_url or "")
        app = create_app(stack.settings)
        wait_ready(stack, app, started, others=others)
    except BaseException:
        stop_stack(stack)
        raise
    return LiveStack(stack, stack.settings, app, Producer(stack.settings, app), sim, log_dir)


def stop_live(live: LiveStack) -> None:
    """Stop the stack's processes, then delete every key it wrote."""
    stop_stack(live.stack, live.producer.redis)
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
              callbacks: bool = False, **overrides: Any) -> LiveStack:
        """:func:`start_live` under ``log_root/stackN``."""
        log_dir = self._log_root / f"stack{self._count}"
        self._count += 1
        live = start_live(redis_url, sim, log_dir, workers=workers, receiver=receiver, callbacks=callbacks,
                          **overrides)
        self._started.append(live)
        return live

    __call__ = start

    def close(self) -> None:
        """Stop the stacks, the last started first."""
        while self._started:
            stop_live(self._started.pop())


#: What the ``live_stacks`` fixture gives a test: ``start(redis_url, sim, workers=N,
#: receiver=False, callbacks=False, **settings)``.
StartLive = Callable[..., LiveStack]
