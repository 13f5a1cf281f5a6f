"""`pinrelay worker`, `correlate`, `webhook`, `sim`: the long-running processes, one each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from worker import constants as c
from worker.cli.common import load_settings, stop_event
from worker.cli.extras import missing_extra
from worker.config import Settings


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("worker", help="run one Celery worker (same as celery -A worker worker)")
    p.add_argument("--concurrency", type=int, help="worker processes (default: PINRELAY_WORKER_CONCURRENCY, "
                   "or PINRELAY_CALLBACK_CONCURRENCY with --callbacks)")
    p.add_argument("--pool", choices=["prefork", "threads", "solo"],
                   help="Celery pool (default: PINRELAY_WORKER_POOL; prefork with --callbacks)")
    p.add_argument("--name", help="Celery node name, e.g. worker1@%%h (default celery@%%h, callbacks@%%h)")
    p.add_argument("--callbacks", action="store_true",
                   help="consume PINRELAY_CALLBACK_QUEUE instead of the send queue: outcome callbacks, "
                        "conversion reports, the verify expiry (run one beside the send workers)")
    p.set_defaults(func=run_worker)

    p = sub.add_parser("correlate", help="run the receipt correlator")
    p.set_defaults(func=run_correlate)

    p = sub.add_parser("webhook", help="run the receipt receiver under granian")
    p.add_argument("--host", default="0.0.0.0",
                   help="interface to listen on (default %(default)s); unless it is loopback, "
                        "PINRELAY_SIGNATURE_SECRET must be set (or --insecure-unsigned given)")
    p.add_argument("--port", type=int, default=c.DEFAULT_WEBHOOK_PORT, help="port to listen on")
    p.add_argument("--server-workers", type=int, default=2, help="granian worker processes")
    p.add_argument("--insecure-unsigned", action="store_true",
                   help="accept unsigned receipts on a non-loopback address: anyone who reaches "
                        "the receiver can then settle sends with forged receipts")
    p.set_defaults(func=run_webhook)

    p = sub.add_parser("sim", help="run the provider simulator")
    p.set_defaults(func=run_sim)
    try:
        from pinrelay_ops.simulator.cli import add_arguments as sim_arguments
    except ModuleNotFoundError as exc:  # no server extra: `pinrelay sim` says what to install
        if missing_extra(exc, "sim") is None:
            raise
        p.add_argument("options", nargs=argparse.REMAINDER, help="(needs the server extra)")
        return
    sim_arguments(p)


def run_worker(args: argparse.Namespace) -> int:
    """One Celery worker; refuses demo credentials for a real provider (exit 2) before starting."""
    from worker.logs import get_logger, log_ready

    settings = load_settings()
    settings.check_provider_credentials()
    log = get_logger("pinrelay.worker")
    cleanup: Callable[[], None] = lambda: None  # noqa: E731 - replaced when metrics are on
    metrics_at = None
    if settings.metrics_port:
        from worker.metrics import WORKER_METRICS, use_multiprocess_dir

        # Before the app and its prefork children exist: they all write to this directory.
        cleanup = use_multiprocess_dir()
        metrics_at = _metrics(settings, log, WORKER_METRICS)
    try:
        from celery.signals import worker_ready

        from worker.taskqueue.app import json_console
        from worker.taskqueue.durability import warn_if_volatile
        from worker.worker_app import default_app

        app = default_app()
        settings = app.pinrelay_settings
        # Celery's own log lines at WARNING: every send is already one structlog event.
        argv, concurrency, pool = _worker_argv(args, settings)
        if settings.log_format == "json":
            argv.insert(0, "--quiet")  # no banner: the `ready` event below says the same, as JSON
            json_console()

        def ready(sender: Any = None, **_: Any) -> None:
            log_ready(log, settings, node=getattr(sender, "hostname", None), metrics=metrics_at,
                      concurrency=concurrency, pool=pool, queue=argv[argv.index("-Q") + 1])

        worker_ready.connect(ready, weak=False)
        warn_if_volatile(settings)
        app.worker_main(argv)
    finally:
        cleanup()
    return 0


def _worker_argv(args: argparse.Namespace, settings: Settings) -> tuple[list[str], int, str]:
    """Celery's worker argv, its concurrency and pool: the send queue, or with ``--callbacks`` the
    callbacks queue (prefork by default, so each task's hard time limit holds; one task reserved
    per process: a slow callback never holds others it has taken)."""
    if args.callbacks:
        queue, name = settings.callback_queue_name, args.name or "callbacks@%h"
        concurrency, pool = args.concurrency or settings.callback_concurrency, args.pool or "prefork"
        prefetch = 1
    else:
        queue, name = settings.queue, args.name
        concurrency, pool = args.concurrency or settings.worker_concurrency, args.pool or settings.worker_pool
        prefetch = settings.prefetch_multiplier
    argv = ["worker", "--loglevel", "WARNING", "-Q", queue, "--concurrency", str(concurrency),
            "--pool", pool, "--prefetch-multiplier", str(prefetch), "--without-mingle", "--without-gossip"]
    if name:
        argv += ["--hostname", name]
    return argv, concurrency, pool


def run_correlate(args: argparse.Namespace) -> int:
    from worker.callbacks.sweeps import correlator_sweeps
    from worker.correlate.correlator import Correlator
    from worker.enqueue.task_message import publish_one_by_one
    from worker.logs import log_ready
    from worker.redisconn import redis_client
    from worker.worker_app import create_app

    settings = load_settings().require_redis()
    stop = stop_event()
    client = redis_client(settings.redis_url or "")
    app = create_app(settings)
    correlator = Correlator(settings, client,
                            republish=lambda ids: publish_one_by_one(app, settings, ids),
                            periodic=correlator_sweeps(app, settings, client))
    metrics_at = None
    if settings.metrics_port:
        from worker.guard.metrics import GuardStatsCollector
        from worker.metrics import CORRELATOR_METRICS, RedisStatsCollector
        from worker.send.route_metrics import RouteStateCollector
        from worker.taskqueue.misrouted import MisroutedCollector
        from worker.verify.metrics import VerifyStatsCollector

        stats = RedisStatsCollector(client, settings)
        verify_stats = VerifyStatsCollector(client, settings)
        routes = RouteStateCollector(client, settings)
        metrics_at = _metrics(settings, correlator.log, CORRELATOR_METRICS, stats, verify_stats, routes,
                              MisroutedCollector(client, settings), GuardStatsCollector(client, settings))
    correlator.log.info("correlator_started")
    log_ready(correlator.log, settings, metrics=metrics_at)
    correlator.run(stop.is_set)
    correlator.log.info("correlator_stopped", processed=correlator.processed)
    return 0


def _metrics(settings: Settings, log: Any, instruments: tuple[Any, ...], *collectors: Any) -> str | None:
    """Serve ``/metrics`` on the configured port; where, or None when the port was taken."""
    from worker.metrics import serve_metrics

    host, port = settings.metrics_host, settings.metrics_port
    served = serve_metrics(port, host=host, instruments=instruments, collectors=collectors, log=log)
    return f"{host}:{port}" if served else None


def run_webhook(args: argparse.Namespace) -> int:
    from webhook.serve import serve

    settings = load_settings().require_redis()
    # serve() refuses an unsigned receiver on a non-loopback address before starting anything
    return serve(settings, host=args.host, port=args.port, workers=args.server_workers,
                 insecure_unsigned=args.insecure_unsigned)


def run_sim(args: argparse.Namespace) -> int:
    from pinrelay_ops.simulator.cli import run

    return run(args)
