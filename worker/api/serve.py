"""Run the HTTP API under granian in the foreground (``pinrelay api``), like the receiver.

Same server and the same reasons as :mod:`webhook.serve` (granian's Rust HTTP layer leaves
the CPU to the app; several threads per worker, since requests mostly wait on Redis), and
the same clean stop: SIGTERM/SIGINT go to granian, which drains its workers.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Final

from webhook.serve import WORKERS_KILL_TIMEOUT_S, build_env
from worker.config import Settings
from worker.constants import DEFAULT_API_PORT
from worker.errors import ConfigError

APP_TARGET: Final = "worker.api.wsgi:app_factory"
_SOURCE_ROOT: Final = str(Path(__file__).resolve().parents[2])
DEFAULT_BLOCKING_THREADS: Final = 16
_GRANIAN_LEVELS: Final = frozenset({"critical", "error", "warning", "info", "debug"})


def build_command(
    settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_API_PORT, workers: int = 1,
    *, blocking_threads: int = DEFAULT_BLOCKING_THREADS,
) -> list[str]:
    """The granian argv; run it with :func:`webhook.serve.build_env` as its environment."""
    if workers < 1 or blocking_threads < 1:
        raise ConfigError(f"workers ({workers}) and blocking threads must be at least 1")
    level = settings.log_level.lower()
    return [
        sys.executable, "-m", "granian",
        "--interface", "wsgi",
        "--factory",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--blocking-threads", str(blocking_threads),
        "--workers-kill-timeout", str(WORKERS_KILL_TIMEOUT_S),
        "--log-level", level if level in _GRANIAN_LEVELS else "info",
        "--no-access-log",
        "--working-dir", _SOURCE_ROOT,
        APP_TARGET,
    ]


def serve(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_API_PORT, workers: int = 1) -> int:
    """Run granian until it exits; its exit status (0 after SIGTERM/SIGINT)."""
    if settings.redis_url is None:
        raise ConfigError("the HTTP API needs a Redis URL (PINRELAY_REDIS_URL, or a running `pinrelay up`)")
    argv = build_command(settings, host, port, workers)
    env = build_env(settings)
    metrics_dir = None
    if "PROMETHEUS_MULTIPROC_DIR" not in env:
        metrics_dir = tempfile.mkdtemp(prefix="pinrelay-api-metrics-")
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    child = subprocess.Popen(argv, env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:
            child.kill()
            child.wait()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 128 - code if code < 0 else code
