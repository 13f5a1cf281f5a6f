"""`pinrelay flower`: the Celery dashboard for pinrelay's queue, behind basic auth.

Flower runs in this process on the app :func:`worker.worker_app.create_app`
builds, so it watches the same broker and queue as the workers (task events are
already on in that app's configuration). Its options are set here, not read
from ``FLOWER_*`` variables or a ``flowerconfig.py`` in the working directory,
so what runs is what ``pinrelay flower --help`` says.

Failure policy:

* no ``PINRELAY_FLOWER_USER``/``PINRELAY_FLOWER_PASSWORD`` (or a short password) -> refuse
  to start (:class:`ConfigError`, :func:`worker.config.rules.flower_basic_auth`), unless
  ``--insecure-dev``, which also refuses any address but loopback;
* the password never appears on a command line (``ps``) or in a log line;
* the dashboard is read-only (no shutdown, pool or revoke buttons) unless
  ``--allow-control``;
* at most ``--max-tasks`` tasks are kept in memory (Flower's default is 100,000).

No PIN can show on Flower's task pages: pinrelay's producer puts only
``request_id`` in the task's kwargs; the PIN stays in Redis.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
from dataclasses import dataclass
from typing import Any, Final

from worker.cli.common import load_settings
from worker.config import Settings
from worker.config.rules import flower_basic_auth
from worker.errors import ConfigError

DEFAULT_FLOWER_PORT: Final = 5555
DEFAULT_FLOWER_ADDRESS: Final = "127.0.0.1"  # put a TLS proxy in front to expose it
MAX_TASKS_IN_MEMORY: Final = 10_000  # Flower keeps task events in RAM; bounded, oldest dropped
MAX_WORKERS_IN_MEMORY: Final = 500
INSPECT_TIMEOUT_MS: Final = 1000.0
PURGE_OFFLINE_WORKERS_S: Final = 3600  # a scaled-down worker leaves the dashboard after this


@dataclass(frozen=True, slots=True)
class FlowerOptions:
    """What Flower is started with; ``basic_auth`` is ``user:password`` or None (dev only)."""

    port: int
    address: str
    basic_auth: str | None
    read_only: bool
    max_tasks: int

    def __repr__(self) -> str:
        auth = "none" if self.basic_auth is None else f"{self.basic_auth.split(':', 1)[0]}:***"
        return (f"FlowerOptions(port={self.port}, address={self.address!r}, basic_auth={auth!r}, "
                f"read_only={self.read_only}, max_tasks={self.max_tasks})")


def add_arguments(sub: Any) -> None:
    """The ``pinrelay flower`` subcommand and its options."""
    parser = sub.add_parser("flower", help="the Celery dashboard (basic auth required)")
    parser.set_defaults(func=lambda args: run(args, load_settings()))
    parser.add_argument("--port", type=int, default=DEFAULT_FLOWER_PORT,
                        help="port (default %(default)s)")
    parser.add_argument("--address", default=DEFAULT_FLOWER_ADDRESS,
                        help="interface (default %(default)s; 0.0.0.0 in a container)")
    parser.add_argument("--max-tasks", type=int, default=MAX_TASKS_IN_MEMORY,
                        help="task events kept in memory (default %(default)s)")
    parser.add_argument("--allow-control", action="store_true",
                        help="enable worker shutdown/pool/revoke buttons (read-only otherwise)")
    parser.add_argument("--insecure-dev", action="store_true",
                        help="no basic auth, loopback only: never in production")


def flower_options(args: argparse.Namespace, settings: Settings) -> FlowerOptions:
    """Check the options against the settings; raise :class:`ConfigError` naming what is wrong."""
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port} is not a TCP port")
    if args.max_tasks < 1:
        raise ConfigError(f"--max-tasks {args.max_tasks} must be at least 1")
    if settings.flower_user is None and settings.flower_password is None and args.insecure_dev:
        if not _is_loopback(args.address):
            raise ConfigError(f"--insecure-dev serves without a password, so only on loopback, "
                              f"not on {args.address!r}")
        return FlowerOptions(args.port, args.address, None, not args.allow_control, args.max_tasks)
    return FlowerOptions(args.port, args.address, flower_basic_auth(settings), not args.allow_control,
                         args.max_tasks)


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def build_flower(app: Any, opts: FlowerOptions) -> Any:
    """A Flower web application for ``app`` (not yet listening)."""
    from flower.app import Flower
    from flower.options import options
    from flower.urls import settings as web_settings

    options.port = opts.port
    options.address = opts.address
    options.basic_auth = [opts.basic_auth] if opts.basic_auth else []
    options.read_only = opts.read_only
    options.max_tasks = opts.max_tasks
    options.max_workers = MAX_WORKERS_IN_MEMORY
    options.inspect_timeout = INSPECT_TIMEOUT_MS
    options.purge_offline_workers = PURGE_OFFLINE_WORKERS_S
    options.persistent = False  # the records in Redis are the history, not Flower's shelve file
    options.enable_events = True
    options.debug = False
    return Flower(capp=app, options=options, **dict(web_settings, debug=False))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve Flower in the foreground until SIGINT/SIGTERM; 0 on a clean stop."""
    import logging

    from worker.logs import get_logger
    from worker.worker_app import create_app

    opts = flower_options(args, settings)
    log = get_logger("pinrelay.flower")
    settings = settings.require_redis()
    logging.getLogger("tornado.access").disabled = True  # request lines are noise here
    dashboard = build_flower(create_app(settings), opts)
    try:
        port = dashboard.start_http_server()
    except OSError as exc:
        raise ConfigError(f"Flower cannot listen on {opts.address}:{opts.port}: {exc}") from None

    for sig in (signal.SIGTERM, signal.SIGINT):  # handled inside the event loop Flower runs on
        dashboard.io_loop.asyncio_loop.add_signal_handler(sig, dashboard.stop)
    if opts.basic_auth is None:
        log.warning("flower_insecure_dev", reason="no basic auth: --insecure-dev")
    log.info("flower_started", url=f"http://{opts.address}:{port}/", queue=settings.queue,
             auth="basic" if opts.basic_auth else "none", read_only=opts.read_only,
             max_tasks=opts.max_tasks)
    dashboard.start()
    log.info("flower_stopped")
    return 0
