"""What every command needs: settings read once, the producer, JSON output, stop signals."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from typing import Any, Final

from worker.config import Settings
from worker.logs import configure_logging

# The exit codes (README "Exit codes"; worker/cli/main.py maps errors onto them).
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # not found / not approved / failed
EXIT_USAGE: Final = 2  # usage or invalid input
EXIT_WAIT_TIMEOUT: Final = 3  # `wait` timed out before the send settled
EXIT_ABUSE_LIMIT: Final = 4  # an abuse limit: retry later


def load_settings() -> Settings:
    """Settings from the environment, with logging configured to redact every secret in them.

    A ``pinrelay`` command owns its process, so the standard library's logging (Celery,
    kombu, granian's supervisor) and Python's warnings go through the same pipeline."""
    settings = Settings.from_env()
    configure_logging(settings, stdlib=True)
    return settings


def producer() -> Any:
    """The default :class:`worker.enqueue.producer.Producer` (built on first use)."""
    import worker

    return worker.default_producer()


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the clean way for a foreground command to end."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def parse_bool(text: str) -> bool:
    """``--delivered true/false``: argparse's ``type=bool`` would take "false" as True."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
