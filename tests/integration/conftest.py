"""Real processes for integration tests: the simulator, Celery workers, the receiver.

A live stack (:mod:`tests.support.live`) is built per test module (workers take
seconds to start), on its own key prefix and Celery queue in the session's private
Redis, and torn down with everything it wrote.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.sim import simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with simulator() as running:
        yield running


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
