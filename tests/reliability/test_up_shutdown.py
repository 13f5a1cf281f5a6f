"""A stop signal always stops `pinrelay up`, within its grace (issue 23 finding 8).

SIGTERM to `up`'s process group (a terminal's job control, systemd's control-group kill) reaches
`up` alone: its children run in sessions of their own. Before, `up` then stopped them one after
another, waiting up to 30 s on each, and a child that hung (granian's main process asleep with no
workers) held it for ever. Now it sends SIGTERM to all of them at once, waits for them together
at most ``--stop-grace``, kills the sessions of whatever is left, and stops its Redis (at most
5 s more).

Each run: `pinrelay up --with-sim`, the simulator slowed down so sends are mid-call, a producer
enqueueing and a client posting receipts in a loop (in every fourth run, granian's main process
and the correlator frozen with SIGSTOP, so only SIGKILL ends them); then SIGTERM to `up`'s
process group. `up`
must exit 0 within the grace plus Redis's 5 s (and a margin for a loaded machine), leaving no
process of its tree behind. 20 runs, a few at a time, with a short grace to keep it brief.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from tests.reliability.figures import Figures
from tests.support.commands import command_env
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.local.embedded import free_port
from worker.local.supervisor import REDIS_STOP_S
from worker.taskqueue.app import publisher_app

pytestmark = pytest.mark.slow

RUNS = 20
PARALLEL = 3
GRACE_S = 4.0
MARGIN_S = 4.0
LIMITS_OFF = {"PINRELAY_PER_NUMBER_10MIN": "0", "PINRELAY_PER_NUMBER_DAY": "0",
              "PINRELAY_PER_PREFIX_MINUTE": "0", "PINRELAY_RATE_LIMIT": "0"}


@dataclass
class Stop:
    seconds: float
    code: int
    killed: bool  # `up` had to SIGKILL a component
    left: list[str]  # processes of the tree still alive afterwards
    sent: int
    frozen: bool  # two of its children were SIGSTOPped first: they can only be killed


def _producer_load(state: str, stop: threading.Event, sent: list[str]) -> None:
    """Sends enqueued through `up`'s Redis (found by its runtime file) until ``stop``."""
    url = json.loads((Path(state) / "runtime.json").read_text())["redis_url"]
    settings = Settings.from_env({"PINRELAY_REDIS_URL": url, **LIMITS_OFF})
    producer = Producer(settings, publisher_app(settings))
    try:
        i = 0
        while not stop.is_set():
            with contextlib.suppress(Exception):  # Redis going away mid-stop
                sent.append(producer.send_pin(f"1636555{5000 + i % 4000}", f"{100000 + i}"))
            i += 1
            stop.wait(0.02)
    finally:
        producer.close()


def _receipt_load(webhook: str, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(requests.RequestException):
            requests.get(f"{webhook}/delivery-receipt-webhook?messageId=x1&status=delivered&msisdn=1",
                         timeout=1, headers={"Connection": "close"})


def _freeze(up: psutil.Process) -> None:
    """SIGSTOP granian's main process and the correlator: two children that will not stop by
    themselves (granian's main process asleep with no workers was finding 8's hang)."""
    for child in up.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            argv = " ".join(child.cmdline())
            if ("granian" in argv and child.parent().pid != up.pid) or argv.endswith("worker.cli correlate"):
                child.suspend()


def _run_once(tmp: Path, freeze: bool) -> Stop:
    tmp.mkdir(parents=True)
    state = str(tmp / "state")
    env = command_env(PINRELAY_RUNTIME_DIR=state, PINRELAY_CALLBACK_CONCURRENCY="1", **LIMITS_OFF)
    argv = [sys.executable, "-m", "worker.cli", "up", "--webhook-port", str(free_port()), "--workers", "1",
            "--with-sim", "--stop-grace", str(GRACE_S)]
    with (tmp / "up.out").open("w+b") as out, (tmp / "up.err").open("w+b") as err:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=err, start_new_session=True)
        stop = threading.Event()
        loads: list[threading.Thread] = []
        sent: list[str] = []
        tree: list[psutil.Process] = []
        try:
            def status() -> dict[str, str] | None:
                assert process.poll() is None, (tmp / "up.err").read_text(errors="replace")[-3000:]
                line = (tmp / "up.out").read_text().partition("\n")[0]
                return json.loads(line) if line else None

            up = wait_for(status, 120, "`pinrelay up` to print its status line")
            requests.post(f"{up['simulator']}/_sim/config", json={"latency_ms": 300}, timeout=5)
            loads = [threading.Thread(target=_producer_load, args=(state, stop, sent)),
                     threading.Thread(target=_receipt_load, args=(up["webhook"], stop))]
            for load in loads:
                load.start()
            wait_for(lambda: len(sent) >= 5, 30, "sends to be enqueued")
            time.sleep(0.5)  # sends mid-call at the slowed simulator
            tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
            if freeze:
                _freeze(tree[0])
            started = time.monotonic()
            os.killpg(process.pid, signal.SIGTERM)
            try:
                code = process.wait(timeout=GRACE_S + REDIS_STOP_S + MARGIN_S + 30)
            finally:
                seconds = time.monotonic() - started
        finally:
            stop.set()
            for load in loads:
                load.join()
            if process.poll() is None:  # a failed run: its components are in sessions of their own
                with contextlib.suppress(psutil.Error):
                    for member in [*psutil.Process(process.pid).children(recursive=True),
                                   psutil.Process(process.pid)]:
                        member.kill()
                process.wait()
        time.sleep(0.2)
        left = []
        for member in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                if member.is_running() and member.status() != psutil.STATUS_ZOMBIE:
                    left.append(" ".join(member.cmdline()[:4]))
                    member.kill()
        err.seek(0)
        killed = b"components_killed" in err.read()
    return Stop(seconds, code, killed, left, len(sent), freeze)


def test_pinrelay_up_always_stops_within_its_grace(tmp_path: Path, figures: Figures) -> None:
    """20 group SIGTERMs to `pinrelay up` under load, in every fourth run with granian's main process
    and the correlator frozen (SIGSTOP): each exits 0 within the grace (+ Redis's 5 s), the frozen
    ones killed, and nothing of its tree is left running."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = [pool.submit(_run_once, tmp_path / f"run{i}", i % 4 == 3) for i in range(RUNS)]
        stops = [run.result() for run in runs]
    times = sorted(stop.seconds for stop in stops)
    figures.add("stop under load", f"{RUNS} runs of `pinrelay up --with-sim --stop-grace {GRACE_S:g}`, sends "
                "mid-call (simulator 300 ms) and receipts in flight, SIGTERM to its process group",
                sent=sum(stop.sent for stop in stops), lost=0, duplicated=0,
                measured=f"all exited: median {statistics.median(times):.1f} s, slowest {times[-1]:.1f} s "
                f"(grace {GRACE_S:g} s + Redis {REDIS_STOP_S:g} s); components killed in "
                f"{sum(stop.killed for stop in stops)} of {RUNS} (the {sum(s.frozen for s in stops)} "
                "runs with a frozen granian and correlator)")
    assert all(stop.seconds < GRACE_S + REDIS_STOP_S + MARGIN_S for stop in stops), times
    assert [stop.left for stop in stops] == [[]] * RUNS
    assert {stop.code for stop in stops} == {0}, [stop.code for stop in stops]
    assert [stop.killed for stop in stops if stop.frozen] == [True] * (RUNS // 4)
