"""Fixtures for fault injection: a private simulator per test, stacks that are always torn
down (:class:`tests.support.live.Stacks`), and the ledger of measured figures printed at
the end of the run (:mod:`tests.reliability.figures`, printed by ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import Stacks, StartLive
from tests.support.sim import simulator

from .figures import Figures


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return Figures(request.node.name)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator of this test's own (faults configured here never leak into another test)."""
    with simulator(dlr_retry_initial_s=0.3, dlr_retry_max_s=2.0) as running:
        yield running


@pytest.fixture
def live_stacks(tmp_path: Path) -> Iterator[StartLive]:
    """``start(redis_url, sim, workers=N, receiver=False, **settings)``, torn down after the test."""
    stacks = Stacks(tmp_path)
    try:
        yield stacks
    finally:
        stacks.close()
