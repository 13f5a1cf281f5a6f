"""Real processes for integration tests: the simulator, Celery workers, the receiver.

A ``LiveStack`` is built per test module (workers take seconds to start), on
its own key prefix and Celery queue in the session's private Redis, and torn
down with everything it wrote.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from ops.simulator import SimConfig, Simulator
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.errors import UnknownRequestError
from worker.local.supervisor import Stack
from worker.taskqueue.app import create_app


def isolated_settings(redis_url: str, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
    base = Settings.from_env({})
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "key_prefix": f"t{tag}:",
        "queue": f"pinrelay-t{tag}",
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.3,
        "connect_timeout_s": 1.0,
        "read_timeout_s": 1.5,
        "retry_deadline_s": 20.0,
        "visibility_timeout_s": 60,
        "rate_limit_per_s": 0.0,
        "per_number_10min": 0,
        "per_number_day": 0,
        "per_prefix_minute": 0,
        "log_level": "INFO",
        "worker_concurrency": 2,
    }
    values.update(overrides)
    return replace(base, **values)


def cleanup(client: redis.Redis, settings: Settings) -> None:
    keys = list(client.scan_iter(match=f"{settings.key_prefix}*", count=1000))
    keys += list(client.scan_iter(match=f"*{settings.queue}*", count=1000))
    if keys:
        client.delete(*keys)


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition", *, max_delay: float = 0.25
) -> Any:
    """Poll ``predicate`` until truthy; fail the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = min(0.02, max_delay)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, max_delay)


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
        return wait_for(
            lambda: (r := self.record(request_id)) is not None and r["state"] in states and r,
            timeout, f"{request_id} to reach {states}",
        )  # fmt: skip


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig()) as simulator:
        yield simulator


def start_live(redis_url: str, sim: Simulator, log_dir: Path, *, workers: int = 1,
               receiver: bool = False, **overrides: Any) -> LiveStack:  # fmt: skip
    settings = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url, **overrides)
    stack = Stack(settings, log_dir=log_dir)
    stack.ensure_redis()
    if receiver:
        stack.start_webhook()
        stack.start_correlator()
    for i in range(workers):
        stack.start_worker(name=f"worker{i}")
    app = create_app(settings)
    stack.wait_workers(app, count=workers)
    return LiveStack(stack, settings, app, Producer(settings, app), sim, log_dir)


def stop_live(live: LiveStack) -> None:
    live.stack.stop()
    live.producer.close()
    client = redis.Redis.from_url(live.settings.redis_url or "")
    cleanup(client, live.settings)
    client.close()


@pytest.fixture(scope="module")
def live(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    stack = start_live(redis_url, sim, tmp_path_factory.mktemp("live"))
    try:
        yield stack
    finally:
        stop_live(stack)


@pytest.fixture
def fresh_sim(sim: Simulator) -> Simulator:
    sim.reset()
    return sim
