"""`pinrelay worker`, `correlate`, `webhook`, `sim`: the long-running processes, one each."""

from __future__ import annotations

import argparse
from typing import Any

from worker import constants as c
from worker.cli.common import load_settings, stop_event


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("worker", help="run one Celery worker (same as celery -A worker worker)")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--pool", choices=["prefork", "threads", "solo"])
    p.add_argument("--name", help="Celery node name, e.g. worker1@%%h")
    p.set_defaults(func=run_worker)

    p = sub.add_parser("correlate", help="run the receipt correlator")
    p.set_defaults(func=run_correlate)

    p = sub.add_parser("webhook", help="run the receipt receiver under granian")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=c.DEFAULT_WEBHOOK_PORT)
    p.add_argument("--server-workers", type=int, default=2)
    p.set_defaults(func=run_webhook)

    p = sub.add_parser("sim", help="run the provider simulator")
    from ops.simulator.cli import add_arguments as sim_arguments

    sim_arguments(p)
    p.set_defaults(func=run_sim)


def run_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.metrics_port:
        # Must be set before prometheus_client is imported, so prefork children share it.
        import os
        import tempfile

        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="pinrelay-metrics-"))
        from worker.metrics import serve_metrics

        serve_metrics(settings.metrics_port)
    from worker.taskqueue.app import default_app
    from worker.taskqueue.durability import warn_if_volatile

    app = default_app()
    settings = app.pinrelay_settings
    # Celery's own log lines at WARNING: every send is already one structlog event.
    argv = ["worker", "--loglevel", "WARNING", "-Q", settings.queue,
            "--concurrency", str(args.concurrency or settings.worker_concurrency),
            "--pool", args.pool or settings.worker_pool, "--without-mingle", "--without-gossip"]  # fmt: skip
    if args.name:
        argv += ["--hostname", args.name]
    warn_if_volatile(settings)
    app.worker_main(argv)
    return 0


def run_correlate(args: argparse.Namespace) -> int:
    from worker.correlate.correlator import Correlator
    from worker.enqueue.task_message import publish_one_by_one
    from worker.local.runtime import require_redis
    from worker.redisconn import redis_client
    from worker.taskqueue.app import create_app

    settings = require_redis(load_settings())
    stop = stop_event()
    client = redis_client(settings.redis_url or "")
    if settings.metrics_port:
        from prometheus_client import REGISTRY

        from worker.metrics import RedisStatsCollector, serve_metrics
        from worker.send.route_metrics import RouteStateCollector

        REGISTRY.register(RedisStatsCollector(client, settings))
        REGISTRY.register(RouteStateCollector(client, settings))
        serve_metrics(settings.metrics_port)
    app = create_app(settings)
    correlator = Correlator(settings, client,
                            republish=lambda ids: publish_one_by_one(app, settings, ids))  # fmt: skip
    correlator.log.info("correlator_started")
    correlator.run(stop.is_set)
    correlator.log.info("correlator_stopped", processed=correlator.processed)
    return 0


def run_webhook(args: argparse.Namespace) -> int:
    from webhook.serve import serve
    from worker.local.runtime import require_redis

    settings = require_redis(load_settings())
    return serve(settings, host=args.host, port=args.port, workers=args.server_workers)


def run_sim(args: argparse.Namespace) -> int:
    from ops.simulator.cli import run

    return run(args)
