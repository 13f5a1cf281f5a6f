"""Shared fixtures: a private, real Redis for the whole run, and isolated settings per test.

The suite never touches a Redis it did not start, unless PINRELAY_TEST_REDIS_URL
names one; even then every test works under its own key prefix and Celery
queue name and deletes what it wrote (:mod:`tests.support.settings`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import settings as hypothesis_settings

from tests.reliability.figures import absorb, export, report
from tests.support.settings import cleanup, isolated_settings
from worker.config import Settings
from worker.local.embedded import EmbeddedRedis

# No per-example deadline (hypothesis' default is 200 ms): on a loaded 2-core machine, with two
# test processes, an example of a pure function can take longer once, and hypothesis then calls
# the test flaky. What these properties check is the outcome, never the speed.
hypothesis_settings.register_profile("pinrelay", deadline=None)
hypothesis_settings.load_profile("pinrelay")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis dedicated to this test run."""
    given = os.environ.get("PINRELAY_TEST_REDIS_URL")
    if given:
        yield given
        return
    server = EmbeddedRedis(appendonly=False).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def settings(redis_url: str, redis_client: redis.Redis) -> Iterator[Settings]:
    """Settings isolated to this test: own key prefix and queue, cleaned after."""
    configured = isolated_settings(redis_url)
    yield configured
    cleanup(redis_client, configured)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that hold `slow` tests (the fault tests, `up`, the demos) run first, each file's
    tests in their order: with two xdist workers the long files start early and the many short
    ones fill in at the end, instead of one worker finishing a long file alone."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault tests' figures (RELIABILITY.md's table), from every xdist worker."""
    report(terminalreporter)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In an xdist worker: hand this process's figures to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["pinrelay_figures"] = export()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """In the xdist controller: keep the figures of a worker that finished."""
    absorb(getattr(node, "workeroutput", {}).get("pinrelay_figures", []))
