"""Fixtures for fault injection: a private simulator per test, stacks that are always torn
down, and a ledger of measured figures printed at the end of the run.

Set ``PINRELAY_RELIABILITY_JSON=path`` to also write the figures as JSON (how the
table in RELIABILITY.md was produced).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from ops.simulator import SimConfig, Simulator
from tests.integration.conftest import LiveStack, cleanup, isolated_settings
from worker.enqueue.producer import Producer
from worker.local.supervisor import Stack
from worker.taskqueue.app import create_app

RECEIPT_PATH = "/delivery-receipt-webhook"


@dataclass(frozen=True)
class Figure:
    """One row of RELIABILITY.md's table."""

    test: str
    fault: str
    injection: str
    sent: int
    lost: int
    duplicated: int
    measured: str


_FIGURES: list[Figure] = []


class Figures:
    """What a test measured; collected for the end-of-run summary."""

    def __init__(self, test: str) -> None:
        self._test = test

    def add(self, fault: str, injection: str, *, sent: int, lost: int, duplicated: int,
            measured: str) -> None:  # fmt: skip
        _FIGURES.append(Figure(self._test, fault, injection, sent, lost, duplicated, measured))


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node.name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for f in _FIGURES:
        terminalreporter.write_line(
            f"{f.fault} | {f.injection} | sent {f.sent} | lost {f.lost} | "
            f"duplicated {f.duplicated} | {f.measured}"
        )
    out = os.environ.get("PINRELAY_RELIABILITY_JSON")
    if out:
        Path(out).write_text(json.dumps([asdict(f) for f in _FIGURES], indent=2))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator of this test's own (faults configured here never leak into another test)."""
    with Simulator(SimConfig(dlr_retry_initial_s=0.3, dlr_retry_max_s=2.0)) as simulator:
        yield simulator


class Stacks:
    """Starts LiveStacks and stops every one of them in :meth:`close`, whatever happened
    (a stack that failed half-way through starting included)."""

    def __init__(self, log_root: Path) -> None:
        self._log_root = log_root
        self._stacks: list[Stack] = []
        self._started: list[LiveStack] = []

    def start(self, redis_url: str, sim: Simulator, *, workers: int = 1, receiver: bool = False,
              **overrides: Any) -> LiveStack:  # fmt: skip
        """Like ``start_live``; with ``receiver`` the simulator's receipts go to its receiver."""
        settings = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url, **overrides)
        stack = Stack(settings, log_dir=self._log_root / f"stack{len(self._stacks)}")
        self._stacks.append(stack)
        stack.ensure_redis()
        if receiver:
            stack.start_webhook()
            stack.start_correlator()
            sim.configure(dlr_url=f"{stack.webhook_url}{RECEIPT_PATH}")
        for i in range(workers):
            stack.start_worker(name=f"worker{i}")
        app = create_app(stack.settings)
        stack.wait_workers(app, count=workers)
        log_dir = stack.log_dir or self._log_root
        live = LiveStack(stack, stack.settings, app, Producer(stack.settings, app), sim, log_dir)
        self._started.append(live)
        return live

    __call__ = start

    def close(self) -> None:
        for stack in reversed(self._stacks):
            stack.stop()
        for live in self._started:
            live.producer.close()
            try:
                client = redis.Redis.from_url(live.settings.redis_url or "", socket_connect_timeout=1)
                cleanup(client, live.settings)
                client.close()
            except redis.RedisError:
                pass  # the test's own Redis is gone already: nothing left to clean


StartLive = Callable[..., LiveStack]


@pytest.fixture
def live_stacks(tmp_path: Path) -> Iterator[StartLive]:
    """``start(redis_url, sim, workers=N, receiver=False, **settings)``, torn down after the test."""
    stacks = Stacks(tmp_path)
    try:
        yield stacks
    finally:
        stacks.close()
