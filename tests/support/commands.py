"""`pinrelay` commands as an operator starts them: a subprocess, its output in files, polled.

Output goes to files, not pipes, so a chatty process never blocks on a full pipe while
the test waits on something else; the test reads what was written so far.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.waiting import wait_for
from worker.config import Settings

CLI = [sys.executable, "-m", "worker.cli"]


def command_env(settings: Settings | None = None, **extra: str) -> dict[str, str]:
    """This environment without any PINRELAY_* (nor a metrics dir), plus ``settings`` and ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PINRELAY_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    if settings is not None:
        env.update(settings.to_env())
    env.update(extra)
    return env


def run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@dataclass
class Command:
    """A running `pinrelay` command; :meth:`stop` sends SIGTERM as systemd or Ctrl-C would."""

    name: str
    process: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path

    @classmethod
    def start(cls, tmp_path: Path, name: str, env: dict[str, str], *args: str) -> Command:
        out_path, err_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen([*CLI, *args], env=env, stdout=out, stderr=err,
                                       start_new_session=True)
        return cls(name, process, out_path, err_path)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def json_events(self) -> list[dict[str, Any]]:
        """The stderr lines that are JSON objects (all of them, with JSON logs)."""
        events = []
        for line in self.stderr().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events

    def wait_event(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        """The first JSON event called ``name``; fails early (with stderr) if the process exits."""

        def found() -> dict[str, Any] | None:
            event = next((e for e in self.json_events() if e.get("event") == name), None)
            if event is None and not self.alive:
                raise AssertionError(f"{self.name} exited {self.process.returncode}:\n{self.stderr()}")
            return event

        return wait_for(found, timeout, f"{self.name} to log {name!r}")

    def stop(self, timeout: float = 45.0) -> int:
        """SIGTERM to the command itself (it stops its own children), SIGKILL to all if it hangs."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout}s:\n{self.stderr()}") from None


def stop_all(*commands: Command | None, timeout: float = 45.0) -> list[int]:
    """:meth:`Command.stop` for several at once: SIGTERM to each first, then the waits, so their
    shutdowns overlap (a Celery worker's takes seconds). Their exit codes in order (``None``
    arguments skipped); one still running after ``timeout`` is killed, with all its group, and
    fails the test as :meth:`Command.stop` does."""
    running = [command for command in commands if command is not None]
    for command in running:
        if command.alive:
            command.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for command in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            command.process.wait(timeout=max(0.1, deadline - time.monotonic()))
    hung = [command for command in running if command.alive]
    for command in hung:
        os.killpg(command.process.pid, signal.SIGKILL)
        command.process.wait()
    if hung:
        raise AssertionError("\n".join(f"{c.name} did not stop within {timeout}s:\n{c.stderr()}"
                                       for c in hung))
    return [command.process.returncode for command in running]


def scrape(port: int, name: str, **labels: str) -> float:
    """The sum of every sample ``name`` (with these ``labels``, if any) at ``127.0.0.1:port/metrics``
    (0 if absent)."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total
