"""Run the receiver under granian, the production WSGI server, in the foreground.

:func:`build_command` and :func:`build_env` are what a supervisor (``pinrelay up``)
needs to start it as a child process; :func:`serve` does exactly that and waits,
passing SIGTERM/SIGINT on to granian, which drains its workers and exits. Before
starting it refuses a port something already listens on (granian's ``SO_REUSEPORT``
would otherwise share it silently); with JSON logs granian's own lines are JSON
(:class:`worker.logs.JsonFormatter` through ``--log-config``); once the port
answers it logs one ``ready`` event.

Why granian: its HTTP layer is Rust, so the two vCPUs go to the Python app.
Signed (sha256) form POSTs over loopback, wrk 2 threads, Redis on the same
box: ~6-7k req/s with 2 workers x 32 threads, against ~3k for gunicorn
gthread and ~1.8k for gunicorn sync with the same app.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Final

from worker.config import Settings
from worker.constants import DEFAULT_WEBHOOK_PORT
from worker.errors import ConfigError
from worker.local.ports import require_free_ports
from worker.logs import get_logger, log_ready

APP_TARGET: Final = "webhook.wsgi:app_factory"
# Threads running the app per worker. They mostly wait on Redis, and the more
# wait together the bigger the queue's group commit (2 workers, measured:
# 2 threads -> ~3.4k, 8 -> ~5k, 32 -> ~6.5-7.5k req/s). granian warns above
# 2 x cores + 1 threads; that rule is for CPU-bound apps.
DEFAULT_BLOCKING_THREADS: Final = 32
# A granian worker now and then misses its SIGTERM and would wait forever (seen with
# 2.7.9 and 2.8.7: ~1 stop in 6 with 2 workers; upstream granian#875 is alike). Killing
# it loses nothing: a receipt is acknowledged only after it is on the stream, so one
# cut off mid-request is retried by the provider. Requests here take milliseconds.
WORKERS_KILL_TIMEOUT_S: Final = 3
_GRANIAN_LEVELS: Final = frozenset({"critical", "error", "warning", "info", "debug"})
_SOURCE_ROOT: Final = str(Path(__file__).resolve().parent.parent)
READY_TIMEOUT_S: Final = 30.0
# granian's dictConfig (``--log-config``) for JSON logs: its lines on stderr, as ours.
_JSON_LOG_CONFIG: Final = {
    "formatters": {"json": {"()": "worker.logs.JsonFormatter"}},
    "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "loggers": {"_granian": {"handlers": ["json"], "level": "INFO", "propagate": False},
                "granian.access": {"handlers": ["json"], "level": "INFO", "propagate": False}},
}  # fmt: skip


def build_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) plus the receiver's settings."""
    if settings.redis_url is None:
        raise ConfigError("the receipt receiver needs a Redis URL (PINRELAY_REDIS_URL)")
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("PINRELAY_")}
    env.update(settings.to_env())
    return env


def build_command(
    settings: Settings,
    host: str = "0.0.0.0",
    port: int = DEFAULT_WEBHOOK_PORT,
    workers: int = 2,
    *,
    blocking_threads: int = DEFAULT_BLOCKING_THREADS,
    log_config: str | None = None,
) -> list[str]:
    """The granian argv; run it with :func:`build_env` as its environment.

    ``log_config`` is a granian ``--log-config`` JSON file (:func:`write_log_config`)."""
    if workers < 1 or blocking_threads < 1:
        raise ConfigError(f"workers ({workers}) and blocking threads must be at least 1")
    level = settings.log_level.lower()
    if level not in _GRANIAN_LEVELS:
        level = "info"
    return [
        sys.executable, "-m", "granian",
        "--interface", "wsgi",
        "--factory",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--blocking-threads", str(blocking_threads),
        "--workers-kill-timeout", str(WORKERS_KILL_TIMEOUT_S),
        "--log-level", level,
        "--no-access-log",
        "--working-dir", _SOURCE_ROOT,
        *(["--log-config", log_config] if log_config else []),
        APP_TARGET,
    ]  # fmt: skip


def write_log_config(directory: str) -> str:
    """A granian logging config that renders its records as our JSON lines; its path."""
    path = os.path.join(directory, "granian-log.json")
    with open(path, "w") as out:
        json.dump(_JSON_LOG_CONFIG, out)
    return path


def _wait_listening(host: str, port: int, child: subprocess.Popen[bytes]) -> bool:
    """Until ``host:port`` accepts a connection; False if granian exits or time runs out."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while child.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((target, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def serve(
    settings: Settings,
    host: str = "0.0.0.0",
    port: int = DEFAULT_WEBHOOK_PORT,
    workers: int = 2,
) -> int:
    """Run granian in the foreground until it exits; its exit status (0 after SIGTERM/SIGINT).

    :class:`ConfigError` (before anything starts) when ``port`` is already in use."""
    require_free_ports([("receipt receiver", port)], host)
    env = build_env(settings)
    run_dir = tempfile.mkdtemp(prefix="pinrelay-webhook-")
    log_config = write_log_config(run_dir) if settings.log_format == "json" else None
    argv = build_command(settings, host, port, workers, log_config=log_config)
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        # Every granian worker writes its counters here; /metrics adds them up.
        env["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(run_dir, "metrics")
        os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
    child = subprocess.Popen(argv, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if _wait_listening(host, port, child):
            log_ready(get_logger("webhook.serve"), settings, listen=f"{host}:{port}", server_workers=workers)
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
        shutil.rmtree(run_dir, ignore_errors=True)
    return 128 - code if code < 0 else code
