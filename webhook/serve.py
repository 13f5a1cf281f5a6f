"""Run the receiver under granian, the production server, in the foreground.

:func:`build_command` and :func:`build_env` are what a supervisor (``pinrelay up``)
needs to start it as a child process; :func:`serve` does exactly that and waits,
passing SIGTERM/SIGINT on to granian, which drains its workers and exits. Before
starting it refuses a port something already listens on (granian's ``SO_REUSEPORT``
would otherwise share it silently); with JSON logs granian's own lines are JSON
(:class:`worker.logs.JsonFormatter` through ``--log-config``); once the port
answers it logs one ``ready`` event.

Why granian: its HTTP layer is Rust, so the two vCPUs go to the Python app. It runs its
RSGI interface (its cheapest) with the receiver as a coroutine (:mod:`webhook.rsgi`), not
its WSGI interface, which has no body read timeout: a few dozen clients stalling mid-body
held every thread (RELIABILITY.md, round 2).

Who may listen where (:func:`check_exposure`): without ``PINRELAY_SIGNATURE_SECRET``
anybody who can reach the receiver can settle sends with forged receipts, so it starts
unsigned only on a loopback address, unless ``--insecure-unsigned`` says that is meant.
"""

from __future__ import annotations

import importlib.util
import ipaddress
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
from typing import Any, Final

from worker.config import Settings
from worker.constants import DEFAULT_WEBHOOK_PORT, DEFAULT_WEBHOOK_THREADS
from worker.errors import ConfigError
from worker.local.ports import require_free_ports
from worker.logs import get_logger, log_ready

APP_TARGET: Final = "webhook.rsgi:app_factory"
INTERFACE: Final = "rsgi"
# uvloop where installed (a dependency on Linux): about a fifth less CPU per receipt than
# asyncio's loop under granian (wake-ups from granian's threads are coalesced). Named, not
# granian's `auto`, which would prefer any rloop that happens to be installed.
LOOP: Final = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
# Threads a WSGI server should run the WSGI app on (PINRELAY_WEBHOOK_THREADS; the bench's naive
# granian baseline uses it too). They mostly wait on Redis, and the more wait together the
# bigger the queue's group commit (2 workers, granian's WSGI interface: 2 threads -> ~3.4k,
# 8 -> ~5k, 32 -> ~6.5-7.5k req/s). The RSGI front needs none: one writer thread per worker.
DEFAULT_BLOCKING_THREADS: Final = DEFAULT_WEBHOOK_THREADS
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
}


def build_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) plus the receiver's settings."""
    if settings.redis_url is None:
        raise ConfigError("the receipt receiver needs a Redis URL (PINRELAY_REDIS_URL)")
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("PINRELAY_")}
    env.update(settings.to_env())
    return env


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): reachable from this machine only."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name, or "" (every interface): not known to be loopback


def check_exposure(settings: Settings, host: str, *, insecure_unsigned: bool = False) -> None:
    """Refuse (:class:`ConfigError`, one line) to take unsigned receipts on a non-loopback address.

    Unsigned, a receipt proves nothing: anyone who reaches the receiver could settle sends
    (issue 10 finding 1). With ``insecure_unsigned`` it starts, and says so at WARNING.
    """
    if settings.signature_secret is not None or is_loopback(host):
        return
    if not insecure_unsigned:
        raise ConfigError(
            f"the receipt receiver would accept unsigned (forgeable) receipts on {host or 'every address'}: "
            "set PINRELAY_SIGNATURE_SECRET to the provider's signature secret, bind a loopback "
            "address, or pass --insecure-unsigned if that is really meant"
        )
    get_logger("webhook.serve").warning(
        "webhook_unsigned_on_public_address", host=host,
        hint="anyone who reaches it can settle sends; set PINRELAY_SIGNATURE_SECRET",
    )


def build_command(
    settings: Settings,
    host: str = "0.0.0.0",
    port: int = DEFAULT_WEBHOOK_PORT,
    workers: int = 2,
    *,
    log_config: str | None = None,
) -> list[str]:
    """The granian argv; run it with :func:`build_env` as its environment.

    ``log_config`` is a granian ``--log-config`` JSON file (:func:`write_log_config`)."""
    if workers < 1:
        raise ConfigError(f"workers ({workers}) must be at least 1")
    level = settings.log_level.lower()
    if level not in _GRANIAN_LEVELS:
        level = "info"
    return [
        sys.executable, "-m", "granian",
        "--interface", INTERFACE,
        "--loop", LOOP,
        "--no-ws",
        "--factory",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--workers-kill-timeout", str(WORKERS_KILL_TIMEOUT_S),
        "--log-level", level,
        "--no-access-log",
        "--working-dir", _SOURCE_ROOT,
        *(["--log-config", log_config] if log_config else []),
        APP_TARGET,
    ]


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
    *,
    insecure_unsigned: bool = False,
) -> int:
    """Run granian in the foreground until it exits; its exit status (0 after SIGTERM/SIGINT).

    :class:`ConfigError` (before anything starts) for what :func:`check_exposure` refuses, and
    when ``port`` is already in use. With ``PINRELAY_WEBHOOK_METRICS`` a port, this process
    serves the workers' metrics there (and they are off the receipt port).
    """
    check_exposure(settings, host, insecure_unsigned=insecure_unsigned)
    metrics_port = int(settings.webhook_metrics) if settings.webhook_metrics.isdigit() else 0
    require_free_ports([("receipt receiver", port), ("receiver metrics", metrics_port)], host)
    env = build_env(settings)
    run_dir = tempfile.mkdtemp(prefix="pinrelay-webhook-")
    log_config = write_log_config(run_dir) if settings.log_format == "json" else None
    argv = build_command(settings, host, port, workers, log_config=log_config)
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        # Every granian worker writes its counters here; /metrics adds them up.
        env["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(run_dir, "metrics")
        os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
    exporter = _metrics_server(metrics_port, host, env["PROMETHEUS_MULTIPROC_DIR"])
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
        if exporter is not None:
            exporter.shutdown()
            exporter.server_close()
        shutil.rmtree(run_dir, ignore_errors=True)
    return 128 - code if code < 0 else code


def _metrics_server(port: int, host: str, metrics_dir: str) -> Any:
    """With PINRELAY_WEBHOOK_METRICS a port: the workers' metrics, added up, served there."""
    if not port:
        return None
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics_dir)  # type: ignore[no-untyped-call]
    server, _ = start_http_server(port, addr=host or "0.0.0.0", registry=registry)
    return server
