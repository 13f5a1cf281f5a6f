"""A stop signal always stops `pinrelay webhook` and `pinrelay api` (issue 23 finding 8).

systemd's default ``KillMode=control-group`` sends SIGTERM to every process of the unit at
once: the launcher, granian's main process and its workers. Before, that left `pinrelay
webhook` running in 1 of 5 tries (granian's main process asleep for ever with no workers),
and a second SIGTERM did nothing. Now the launcher passes the first signal on and, if granian
has not exited :data:`~webhook.http.launcher.SHUTDOWN_GRACE_S` later, kills its whole process
group and exits.

Each run: start the command, keep requests in flight (two clients in a loop, and one body
that stalls: granian waits for it until it kills its worker, 3 s), then SIGTERM to every
process of the tree, as systemd does; the command must exit within the grace (plus a margin
for a loaded machine) and leave no process behind. The 20 runs of each command go in
parallel batches to keep the test short.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import redis
import requests

from tests.reliability.figures import Figures
from tests.support.receiver import command_env
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from webhook.app import RECEIPT_PATH
from webhook.http.launcher import SHUTDOWN_GRACE_S
from worker.config import Settings
from worker.local.embedded import free_port

pytestmark = pytest.mark.slow

RUNS = 20
PARALLEL = 4
MARGIN_S = 4.0  # the launcher polls every 0.1 s; the rest is a loaded machine's slack
STALL = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n{"


@dataclass
class Stop:
    seconds: float
    code: int
    killed: bool  # the launcher had to SIGKILL granian's group
    left: list[int]  # pids of the tree still alive afterwards


@pytest.fixture
def settings_here(redis_url: str) -> Iterator[Settings]:
    configured = isolated_settings(redis_url)
    yield configured
    client = redis.Redis.from_url(redis_url)
    cleanup(client, configured)
    client.close()


def _load(base: str, path: str, stop: threading.Event) -> None:
    """Requests in flight until ``stop``: one after another, each on a new connection."""
    while not stop.is_set():
        with contextlib.suppress(requests.RequestException):
            requests.get(base + path, timeout=1, headers={"Connection": "close"})


def _run_once(argv: list[str], env: dict[str, str], port: int, path: str, post: str, log: Path) -> Stop:
    """One start, load and stop of ``argv``; ``path`` is loaded, a body to ``post`` stalls."""
    with log.open("w+b") as out:
        process = subprocess.Popen([*argv, "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        tree: list[psutil.Process] = []
        try:
            def ready() -> bool:
                assert process.poll() is None, log.read_text(errors="replace")
                try:
                    return requests.get(base + "/healthz", timeout=1).status_code == 200
                except requests.RequestException:
                    return False

            wait_for(ready, 60, f"{argv[-1]} to answer /healthz")
            stop = threading.Event()
            clients = [threading.Thread(target=_load, args=(base, path, stop)) for _ in range(2)]
            for client in clients:
                client.start()
            stalled = socket.create_connection(("127.0.0.1", port), timeout=5)
            stalled.sendall(STALL % post.encode())
            time.sleep(0.3)
            tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
            started = time.monotonic()
            for member in tree:  # what KillMode=control-group does
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=SHUTDOWN_GRACE_S + MARGIN_S + 10)
            finally:
                seconds = time.monotonic() - started
                stop.set()
                stalled.close()
                for client in clients:
                    client.join()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        time.sleep(0.2)  # the kernel reaps what the launcher killed last
        left = [member.pid for member in tree
                if member.is_running() and member.status() != psutil.STATUS_ZOMBIE]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out.seek(0)
        killed = b"server_killed" in out.read()
    return Stop(seconds, code, killed, left)


def _stops(command: str, settings: Settings, tmp_path: Path, path: str, post: str, *args: str) -> list[Stop]:
    argv = [sys.executable, "-m", "worker.cli", command, *args]
    env = command_env(settings)
    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = [pool.submit(_run_once, argv, env, free_port(), path, post, tmp_path / f"{command}-{i}.log")
                for i in range(RUNS)]
        return [run.result() for run in runs]


def _check(stops: list[Stop], what: str, figures: Figures) -> None:
    times = sorted(stop.seconds for stop in stops)
    figures.add("stop under load", f"{RUNS} runs of `{what}`, requests in flight and a stalled body, "
                "SIGTERM to every process of the tree at once (systemd's control-group kill)",
                sent=RUNS, lost=0, duplicated=0,
                measured=f"all exited: median {statistics.median(times):.1f} s, slowest {times[-1]:.1f} s "
                f"(grace {SHUTDOWN_GRACE_S:g} s); granian's group killed in "
                f"{sum(stop.killed for stop in stops)} of {RUNS}")
    assert all(stop.seconds < SHUTDOWN_GRACE_S + MARGIN_S for stop in stops), times
    assert [stop.left for stop in stops] == [[]] * RUNS
    assert {stop.code for stop in stops} <= {0}, [stop.code for stop in stops]


def test_pinrelay_webhook_always_stops(settings_here: Settings, tmp_path: Path, figures: Figures) -> None:
    """20 control-group SIGTERMs to `pinrelay webhook` (2 granian workers) under load: each run
    exits within the grace, nothing of it left running."""
    stops = _stops("webhook", settings_here, tmp_path, RECEIPT_PATH + "?messageId=1&status=delivered",
                   RECEIPT_PATH, "--server-workers", "2")
    _check(stops, "pinrelay webhook --server-workers 2", figures)


def test_pinrelay_api_always_stops(settings_here: Settings, tmp_path: Path, figures: Figures) -> None:
    """20 control-group SIGTERMs to `pinrelay api` under load: each run exits within the grace,
    nothing of it left running."""
    stops = _stops("api", settings_here, tmp_path, "/readyz", "/v1/pins")
    _check(stops, "pinrelay api", figures)


def test_granian_stops_when_its_launcher_is_killed(settings_here: Settings, tmp_path: Path) -> None:
    """SIGKILL to `pinrelay webhook` alone (nothing can catch it): granian, in a process group of
    its own, gets SIGTERM from the kernel (parent-death signal) and stops, port and all, instead
    of serving on without a supervisor."""
    port = free_port()
    with (tmp_path / "webhook.log").open("w+b") as out:
        process = subprocess.Popen([sys.executable, "-m", "worker.cli", "webhook", "--host", "127.0.0.1",
                                    "--port", str(port), "--server-workers", "2"],
                                   env=command_env(settings_here), stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        granian: list[psutil.Process] = []
        run_dirs: set[Path] = set()
        try:
            wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "the receiver to start")
            granian = psutil.Process(process.pid).children(recursive=True)
            assert granian, "no granian process"
            run_dirs = _run_dirs(granian)  # the launcher's, which it cannot remove once killed
            process.kill()
            process.wait()
            _, alive = psutil.wait_procs(granian, timeout=SHUTDOWN_GRACE_S + MARGIN_S)
            assert alive == [], out.read()
            assert not _answers(f"http://127.0.0.1:{port}/healthz")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for member in granian:
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.kill()
            for run_dir in run_dirs:
                shutil.rmtree(run_dir, ignore_errors=True)


def _run_dirs(granian: list[psutil.Process]) -> set[Path]:
    """The launcher's run directory, found by the granian ``--log-config`` file in it."""
    found = set()
    for member in granian:
        with contextlib.suppress(psutil.Error, ValueError, IndexError):
            argv = member.cmdline()
            found.add(Path(argv[argv.index("--log-config") + 1]).parent)
    return found


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False
