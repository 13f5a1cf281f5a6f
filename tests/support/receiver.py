"""The real `pinrelay webhook` command as tests run it: on loopback, its output kept.

:func:`receivers` starts as many as a test needs, each on a free port, waits until it
answers ``/healthz``, and stops them all on exit (SIGTERM, then the process group killed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import requests

from tests.support.waiting import wait_for
from worker.config import Settings
from worker.local.embedded import free_port

CLI = [sys.executable, "-m", "worker.cli", "webhook"]


class Running:
    """A `pinrelay webhook` process, its port and its output."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self.process, self.port, self._log = process, port, log
        self.base = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def command_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment without its PINRELAY_* variables, plus ``settings`` and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    return {**env, **settings.to_env(), **extra}


Start = Callable[..., Running]


@contextmanager
def receivers(settings: Settings, log_dir: Path) -> Iterator[Start]:
    """``start(*args, **env)``: a `pinrelay webhook --host 127.0.0.1` (one server worker) on a
    free port with ``args`` and the extra ``env``, ready to answer."""
    started: list[Running] = []

    def start(*args: str, **extra_env: str) -> Running:
        port = free_port()
        log = (log_dir / f"webhook-{port}.log").open("w+b")
        argv = [*CLI, "--host", "127.0.0.1", "--port", str(port), "--server-workers", "1", *args]
        process = subprocess.Popen(argv, env=command_env(settings, **extra_env), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        running = Running(process, port, log)
        started.append(running)

        def ready() -> bool:
            assert process.poll() is None, running.output()
            try:
                return requests.get(running.base + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 30, "the receiver to answer /healthz")
        return running

    try:
        yield start
    finally:
        for running in started:
            running.stop()
