"""Runs the whole service on one machine as real processes: `up`, `demo`, `bench`, tests.

Every component is its own OS process started through the same CLI an
operator would use, so what the demo and the integration tests exercise is
what production runs. Stopping sends SIGTERM to every child at once (Celery's warm
shutdown, the servers' graceful stop), waits for them together at most the grace, and then
kills whatever is left, each child's whole session (:mod:`worker.local.shutdown`). With a :class:`Relay` the
children's output appears on the supervisor's own stream, each line marked with its
component; servers count as started only when they answer as themselves (the
receiver's ``/readyz`` names ``pinrelay-webhook``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from webhook.app import SERVICE_NAME
from worker import constants as c
from worker.config import Settings
from worker.errors import ConfigError
from worker.local.embedded import EmbeddedRedis, free_port
from worker.local.relay import Relay
from worker.local.runtime import clear_runtime, write_runtime
from worker.local.shutdown import kill_session, stop_together

CLI = [sys.executable, "-m", "worker.cli"]
REDIS_DIR = "redis"  # `up`'s embedded Redis data, under PINRELAY_RUNTIME_DIR
STOP_GRACE_S = c.UP_STOP_GRACE_S  # the children's, together; then SIGKILL (`pinrelay up --stop-grace`)
REDIS_STOP_S = 5.0  # the embedded Redis after them (it writes its AOF), then SIGKILL


@dataclass
class Managed:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    relay: Relay | None = None
    _log: Any = None
    _relaying: threading.Thread | None = None

    def start(self) -> Managed:
        out: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            out = self._log
        if self.relay is not None:
            out = subprocess.PIPE  # the relay copies it to the log file as well
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        if self.relay is not None and self.process.stdout is not None:
            self._relaying = self.relay.follow(self.name, self.process.stdout, self._log)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive and self.process is not None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                # SIGTERM to the leader only: Celery's main process and granian's supervisor
                # shut their children down in order (a SIGTERM straight to a prefork child
                # mid-call would turn its send into `unconfirmed`). The group gets SIGKILL
                # only if that takes too long.
                self.process.terminate()
                try:
                    self.process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    kill_session(self.process.pid)
                    self.process.wait()
            code = self.process.returncode
        self.finish()
        return code

    def finish(self) -> None:
        """After the process ended: its last relayed lines shown, its log file closed."""
        if self._relaying is not None:
            self._relaying.join(timeout=5)  # its last lines (a crash's traceback) are shown
            self._relaying = None
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Stack:
    """A private pinrelay installation: Redis (embedded unless given), sim, receiver, workers."""

    settings: Settings
    log_dir: Path | None = None
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    redis_server: EmbeddedRedis | None = None
    processes: dict[str, Managed] = field(default_factory=dict)
    sim_url: str | None = None
    webhook_url: str | None = None
    api_url: str | None = None
    owns_runtime_file: bool = False
    relay: Relay | None = None

    def ensure_redis(self, *, write_runtime_file: bool = False) -> Settings:
        """Use the configured Redis (the variable, or a running `up`'s runtime file: a settings
        source), or start a private one (AOF on) and say where it is.

        `up` (``write_runtime_file``) keeps the data in one directory per runtime dir, so a
        restart finds every record again; the directory is locked while its Redis runs.
        Others (the demo) get a throw-away directory.
        """
        resolved = self.settings
        if not resolved.redis_url:
            data_dir = str(Path(self.settings.runtime_dir) / REDIS_DIR) if write_runtime_file else None
            self.redis_server = EmbeddedRedis(data_dir=data_dir, appendonly=True, lock=True).start()
            resolved = resolved.with_redis(self.redis_server.url)
            if write_runtime_file:
                write_runtime(resolved, redis_url=resolved.redis_url or "")
                self.owns_runtime_file = True
        self.settings = resolved
        return resolved

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
        env.update(self.settings.to_env())
        env.update(self.env_overrides)
        env.update(extra)
        return env

    def _start(self, name: str, argv: list[str], **extra_env: str) -> Managed:
        log_path = self.log_dir / f"{name}.log" if self.log_dir else None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        managed = Managed(name, argv, self.env(**extra_env), log_path, relay=self.relay).start()
        self.processes[name] = managed
        return managed

    def start_sim(self, *extra_args: str, port: int | None = None) -> str:
        port = port or free_port()
        self._start("sim", [*CLI, "sim", "--host", "127.0.0.1", "--port", str(port), *extra_args])
        self.sim_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.sim_url}/_sim/stats", "simulator", self.processes["sim"],
                  expect=lambda r: r.ok and "accepted" in _json(r))
        self.settings = self.settings.replace(api_url=self.sim_url, conversion_url=self.sim_url)
        return self.sim_url

    def start_webhook(self, port: int | None = None, workers: int = 1) -> str:
        port = port or free_port()
        self._start("webhook", [*CLI, "webhook", "--host", "127.0.0.1", "--port", str(port),
                                "--server-workers", str(workers)])
        self.webhook_url = f"http://127.0.0.1:{port}"
        wait_http(f"{self.webhook_url}/readyz", "receipt receiver", self.processes["webhook"],
                  expect=answers_as_receiver)
        return self.webhook_url

    def start_api(self, port: int | None = None, host: str = "127.0.0.1", name: str = "api",
                  **extra_env: str) -> str:
        """The HTTP producer API (`pinrelay api`), once it answers /healthz; its URL."""
        port = port or free_port()
        self._start(name, [*CLI, "api", "--host", host, "--port", str(port)], **extra_env)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", "HTTP API", self.processes[name])
        self.api_url = self.api_url or url
        return url

    def start_worker(self, name: str = "worker", concurrency: int | None = None,
                     pool: str | None = None, *, callbacks: bool = False,
                     env: Mapping[str, str] | None = None) -> Managed:
        """A Celery worker on the send queue, or with ``callbacks`` on the callbacks queue."""
        argv = [*CLI, "worker", "--name", f"{name}-{uuid.uuid4().hex[:6]}@%h"]
        if callbacks:
            argv.append("--callbacks")
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        if pool:
            argv += ["--pool", pool]
        return self._start(name, argv, **(env or {}))

    def start_correlator(self, name: str = "correlator", **extra_env: str) -> Managed:
        return self._start(name, [*CLI, "correlate"], **extra_env)

    def wait_workers(self, app: object, count: int = 1, timeout_s: float = 60.0) -> None:
        """Until ``count`` Celery workers answer a ping (they are consuming)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            replies = app.control.ping(timeout=0.5)  # type: ignore[attr-defined]
            if len(replies) >= count:
                return
            for proc in self.processes.values():
                if proc.name.startswith("worker") and not proc.alive:
                    raise ConfigError(f"{proc.name} exited with {proc.process.returncode}"  # type: ignore[union-attr]
                                      + (f"; see {proc.log_path}" if proc.log_path else ""))
        raise ConfigError(f"workers did not come up within {timeout_s}s")

    def stop(self, grace_s: float = STOP_GRACE_S, hurry: threading.Event | None = None) -> list[str]:
        """Every child at once, at most ``grace_s`` (or until ``hurry``), then SIGKILL to what is
        left; then Redis (at most :data:`REDIS_STOP_S`). The names of the children killed."""
        managed = [p for p in self.processes.values() if p.process is not None]
        killed = stop_together([p.process for p in managed if p.process is not None], grace_s, hurry)
        for proc in managed:
            proc.finish()
        names = [p.name for p in managed if p.process is not None and p.process.pid in killed]
        self.processes.clear()
        if self.owns_runtime_file:
            clear_runtime(self.settings)
        if self.redis_server is not None:
            self.redis_server.stop(timeout_s=REDIS_STOP_S)
            self.redis_server = None
        return names


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def answers_as_receiver(response: requests.Response) -> bool:
    """Our receiver's ``/readyz``: 200 and ``"service": "pinrelay-webhook"`` (not any server's 200)."""
    return response.ok and _json(response).get("service") == SERVICE_NAME


def wait_http(
    url: str,
    what: str,
    proc: Managed | None = None,
    timeout_s: float = 30.0,
    *,
    expect: Callable[[requests.Response], bool] = lambda r: r.status_code < 500,
) -> None:
    """Until ``url`` gives an answer ``expect`` accepts (by default: anything below 500)."""
    deadline = time.monotonic() + timeout_s
    with requests.Session() as session:
        while time.monotonic() < deadline:
            if proc is not None and not proc.alive:
                hint = f"; see {proc.log_path}" if proc.log_path else ""
                raise ConfigError(f"the {what} exited during start-up{hint}")
            try:
                if expect(session.get(url, timeout=1)):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
    raise ConfigError(f"the {what} did not answer at {url} within {timeout_s}s")
