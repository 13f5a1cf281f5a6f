"""One granian launcher for every server on the core: ``pinrelay webhook`` and ``pinrelay api``.

:func:`build_command` and :func:`build_env` are what a supervisor needs to start granian as a
child; :func:`serve` does exactly that in the foreground and waits. Before starting it refuses
a port something already listens on (granian's ``SO_REUSEPORT`` would otherwise share it
silently, :mod:`webhook.http.ports`); with JSON logs granian's own lines are JSON
(:class:`worker.logs.JsonFormatter` through ``--log-config``); every worker writes its metrics
to one directory (``PROMETHEUS_MULTIPROC_DIR``) so a scrape adds them up; once the port answers
it logs one ``ready`` event.

Why granian: its HTTP layer is Rust, so the two vCPUs go to the Python app. It runs its RSGI
interface (its cheapest) with the app as a coroutine (:mod:`webhook.http.rsgi`), not its WSGI
interface, which has no body read timeout: a few dozen clients stalling mid-body held every
thread (RELIABILITY.md, round 2; the API, issue 21).

Stopping (issue 23 finding 8). granian runs in a process group of its own. The first SIGTERM
or SIGINT is passed to granian's main process, which drains its workers (and kills one that
overstays :data:`WORKERS_KILL_TIMEOUT_S`). If granian has not exited :data:`SHUTDOWN_GRACE_S`
after it, or at a second signal, its whole process group gets SIGKILL and this process exits
(granian's main process was seen asleep for ever with no workers left after they were sent
SIGTERM directly, as systemd's ``KillMode=control-group`` does). Killing loses nothing: a
receipt is acknowledged only once it is on the stream and a send is 202 only once enqueued, so
a request cut off is retried by its client. Should this process itself be killed (SIGKILL to
its group, say), granian's main process gets SIGTERM from the kernel (Linux's parent-death
signal) and stops its workers, rather than serving on without a supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final

from worker.config import Settings
from worker.errors import ConfigError
from worker.logs import get_logger, log_ready
from worker.metrics import MULTIPROC_ENV

from .ports import require_free_ports

# uvloop where installed (a dependency on Linux): about a fifth less CPU per receipt than
# asyncio's loop under granian (wake-ups from granian's threads are coalesced). Named, not
# granian's `auto`, which would prefer any rloop that happens to be installed.
LOOP: Final = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
# A granian worker now and then misses its SIGTERM and would wait forever (seen with 2.7.9 and
# 2.8.7: ~1 stop in 6 with 2 workers; upstream granian#875 is alike): granian kills it after this.
WORKERS_KILL_TIMEOUT_S: Final = 3
# After the first stop signal: granian's own drain (above) plus room to exit, then SIGKILL.
SHUTDOWN_GRACE_S: Final = 8.0
READY_TIMEOUT_S: Final = 30.0
POLL_S: Final = 0.1
_PR_SET_PDEATHSIG: Final = 1  # prctl(2)
_GRANIAN_LEVELS: Final = frozenset({"critical", "error", "warning", "info", "debug"})
_SOURCE_ROOT: Final = str(Path(__file__).resolve().parents[2])
# granian's dictConfig (``--log-config``) for JSON logs: its lines on stderr, as ours.
_JSON_LOG_CONFIG: Final = {
    "formatters": {"json": {"()": "worker.logs.JsonFormatter"}},
    "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {"_granian": {"handlers": ["json"], "level": "INFO", "propagate": False},
                "granian.access": {"handlers": ["json"], "level": "INFO", "propagate": False}},
}


@dataclass(frozen=True, slots=True)
class Server:
    """One granian server: what it is called, the RSGI factory it runs and where it listens."""

    name: str  # "receipt receiver", "HTTP API": in errors and log events
    target: str  # "module:factory", an RSGI app factory
    host: str
    port: int
    workers: int = 1
    logger: str = "pinrelay.serve"
    metrics_port: int = 0  # also serve the workers' metrics, added up, on this port


def build_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without its ``PINRELAY_*`` variables,
    plus ``settings``'."""
    if settings.redis_url is None:
        raise ConfigError("the server needs a Redis URL (PINRELAY_REDIS_URL)")
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("PINRELAY_")}
    env.update(settings.to_env())
    return env


def build_command(settings: Settings, server: Server, *, log_config: str | None = None) -> list[str]:
    """The granian argv; run it with :func:`build_env` as its environment.

    ``log_config`` is a granian ``--log-config`` JSON file (:func:`write_log_config`)."""
    if server.workers < 1:
        raise ConfigError(f"workers ({server.workers}) must be at least 1")
    level = settings.log_level.lower()
    return [
        sys.executable, "-m", "granian",
        "--interface", "rsgi",
        "--loop", LOOP,
        "--no-ws",
        "--factory",
        "--host", server.host,
        "--port", str(server.port),
        "--workers", str(server.workers),
        "--workers-kill-timeout", str(WORKERS_KILL_TIMEOUT_S),
        "--log-level", level if level in _GRANIAN_LEVELS else "info",
        "--no-access-log",
        "--working-dir", _SOURCE_ROOT,
        *(["--log-config", log_config] if log_config else []),
        server.target,
    ]


def write_log_config(directory: str) -> str:
    """A granian logging config that renders its records as our JSON lines; its path."""
    path = os.path.join(directory, "granian-log.json")
    with open(path, "w") as out:
        json.dump(_JSON_LOG_CONFIG, out)
    return path


class Supervision:
    """granian as a child: the stop signals passed on, and the SIGKILL after the grace."""

    def __init__(self, child: subprocess.Popen[bytes], server: Server) -> None:
        self.child = child
        self.server = server
        self.deadline: float | None = None  # set by the first stop signal
        self.killed = False

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """A signal handler: only sends signals (it may interrupt :meth:`wait`)."""
        if self.deadline is None:
            self.deadline = time.monotonic() + SHUTDOWN_GRACE_S
            self._send(self.child.pid, signum, os.kill)
        else:
            self.kill("a second stop signal")

    def kill(self, why: str) -> None:
        """SIGKILL to granian's whole process group."""
        if not self.killed:
            self.killed = True
            get_logger(self.server.logger).warning("server_killed", server=self.server.name, why=why,
                                                   grace_s=SHUTDOWN_GRACE_S)
        self._send(self.child.pid, signal.SIGKILL, os.killpg)

    def wait(self) -> int:
        """Until granian exits (killed once the grace is over); the exit status to report: 0
        after a stop signal (however granian ended), else granian's (128 + N for signal N)."""
        while True:
            try:
                code = self.child.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    self.kill(f"still running {SHUTDOWN_GRACE_S:g} s after the stop signal")
        self._send(self.child.pid, signal.SIGKILL, os.killpg)  # workers its exit left behind, if any
        if self.deadline is not None:
            if code > 0:  # e.g. a worker killed by the same control-group signal mid-drain
                get_logger(self.server.logger).warning("server_stop_status", server=self.server.name,
                                                       status=code)
            return 0  # the stop that was asked for: granian's own, a signal's or ours
        return 128 - code if code < 0 else code

    @staticmethod
    def _send(pid: int, signum: int, send: Any) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # gone already
            send(pid, signum)


def _stop_with_parent(parent: int) -> Any:
    """For Popen's ``preexec_fn``: the child gets SIGTERM when this process dies (Linux only)."""

    def preexec() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the call: no signal will come
            os._exit(1)

    # preexec_fn is safe only in a process without threads (the exporter's starts later).
    return preexec if sys.platform == "linux" and threading.active_count() == 1 else None


def _wait_listening(server: Server, supervision: Supervision) -> bool:
    """Until the port accepts a connection; False if granian exits, a stop was asked for, or
    time runs out."""
    host = server.host
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while (supervision.child.poll() is None and supervision.deadline is None
           and time.monotonic() < deadline):
        try:
            socket.create_connection((target, server.port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def serve(settings: Settings, server: Server) -> int:
    """Run granian in the foreground until it exits (see the module docstring); its exit status.

    :class:`ConfigError` (before anything starts) when a port is already in use."""
    require_free_ports([(server.name, server.port), (f"{server.name} metrics", server.metrics_port)],
                       server.host)
    env = build_env(settings)
    run_dir = tempfile.mkdtemp(prefix="pinrelay-server-")
    log_config = write_log_config(run_dir) if settings.log_format == "json" else None
    argv = build_command(settings, server, log_config=log_config)
    if MULTIPROC_ENV not in env:
        env[MULTIPROC_ENV] = os.path.join(run_dir, "metrics")
        os.makedirs(env[MULTIPROC_ENV])
    preexec = _stop_with_parent(os.getpid())
    child = subprocess.Popen(argv, env=env, process_group=0, preexec_fn=preexec)  # noqa: PLW1509 - see there
    exporter = _metrics_server(server, env[MULTIPROC_ENV])
    supervision = Supervision(child, server)
    previous = {sig: signal.signal(sig, supervision.on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if _wait_listening(server, supervision):
            log_ready(get_logger(server.logger), settings, listen=f"{server.host}:{server.port}",
                      server_workers=server.workers)
        return supervision.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:  # this process is failing: granian goes with it
            supervision.kill("the launcher is exiting")
            child.wait()
        if exporter is not None:
            exporter.shutdown()
            exporter.server_close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _metrics_server(server: Server, metrics_dir: str) -> Any:
    """With a metrics port: the workers' metrics, added up, served there by this process."""
    if not server.metrics_port:
        return None
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics_dir)  # type: ignore[no-untyped-call]
    http_server, _ = start_http_server(server.metrics_port, addr=server.host or "0.0.0.0", registry=registry)
    return http_server
