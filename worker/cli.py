"""``pinrelay``: one command per action (see CONTRACT.md for the stable names).

Every command reads settings once from the environment; errors are one clear
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import kombu.exceptions
import redis

from . import cli_parser
from .cli_parser import Command
from .config import Settings
from .errors import ConfigError, PinrelayError, UnknownRequestError, ValidationError


def _settings() -> Settings:
    from .logs import configure_logging

    settings = Settings.from_env()
    configure_logging(fmt=settings.log_format, level=settings.log_level,
                      secrets=(settings.api_secret, settings.signature_secret,
                               settings.flower_password))  # fmt: skip
    return settings


def _producer() -> Any:
    from . import default_producer

    return default_producer()


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def cmd_send(args: argparse.Namespace) -> int:
    request_id = _producer().send_pin(
        args.to, args.pin, args.client_ref,
        idempotency_key=args.idempotency_key, expires_in=args.expires_in,
    )  # fmt: skip
    print(json.dumps({"id": request_id}))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _print(_producer().get_status(args.id))
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    _print(_producer().wait(args.id, args.timeout))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    _producer().report_conversion(args.id, delivered=args.delivered)
    print(json.dumps({"id": args.id, "conversion": "queued", "delivered": args.delivered}))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.metrics_port:
        # Must be set before prometheus_client is imported, so prefork children share it.
        import os
        import tempfile

        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="pinrelay-metrics-"))
        from .metrics import serve_metrics

        serve_metrics(settings.metrics_port)
    from .celery_app import default_app

    app = default_app()
    settings = app.pinrelay_settings
    # Celery's own log lines at WARNING: every send is already one structlog event.
    argv = ["worker", "--loglevel", "WARNING", "-Q", settings.queue,
            "--concurrency", str(args.concurrency or settings.worker_concurrency),
            "--pool", args.pool or settings.worker_pool, "--without-mingle", "--without-gossip"]  # fmt: skip
    if args.name:
        argv += ["--hostname", args.name]
    from .persistence import warn_if_volatile

    warn_if_volatile(settings)
    app.worker_main(argv)
    return 0


def cmd_correlate(args: argparse.Namespace) -> int:
    from .correlator import Correlator
    from .runtime import require_redis
    from .services import redis_client

    settings = require_redis(_settings())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    client = redis_client(settings.redis_url or "")
    if settings.metrics_port:
        from prometheus_client import REGISTRY

        from .metrics import RedisStatsCollector, serve_metrics

        REGISTRY.register(RedisStatsCollector(client, settings))
        serve_metrics(settings.metrics_port)
    from .bulk import publish_one_by_one
    from .celery_app import create_app

    app = create_app(settings)
    correlator = Correlator(settings, client,
                            republish=lambda ids: publish_one_by_one(app, settings, ids))  # fmt: skip
    correlator.log.info("correlator_started")
    correlator.run(stop.is_set)
    correlator.log.info("correlator_stopped", processed=correlator.processed)
    return 0


def cmd_webhook(args: argparse.Namespace) -> int:
    from webhook.serve import serve

    from .runtime import require_redis

    settings = require_redis(_settings())
    return serve(settings, host=args.host, port=args.port, workers=args.server_workers)


def cmd_sim(args: argparse.Namespace) -> int:
    from ops.simulator.cli import run

    return run(args)


def cmd_up(args: argparse.Namespace) -> int:
    from .supervisor import Stack

    settings = _settings()
    stack = Stack(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stack.ensure_redis(write_runtime_file=True)
        if args.with_sim:
            stack.start_sim("--dlr-url", f"http://127.0.0.1:{args.webhook_port}/delivery-receipt-webhook")
        stack.start_webhook(args.webhook_port, workers=args.server_workers)
        stack.start_correlator()
        stack.start_worker(concurrency=args.workers)
        print(json.dumps({"status": "up", "redis": stack.settings.redis_url,
                          "webhook": stack.webhook_url, "simulator": stack.sim_url}), flush=True)  # fmt: skip
        while not stop.wait(1.0):
            dead = [p.name for p in stack.processes.values() if not p.alive]
            if dead:
                print(f"pinrelay up: {', '.join(dead)} exited; stopping", file=sys.stderr)
                return 1
        return 0
    finally:
        stack.stop()


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(_settings(), count=args.count, workers=args.workers)


def cmd_dead(args: argparse.Namespace) -> int:
    from .deadletters import run_dead

    return run_dead(_producer(), args)


def cmd_flower(args: argparse.Namespace) -> int:
    from .flower import run

    return run(args, _settings())


def cmd_report(args: argparse.Namespace) -> int:
    from .report import run

    return run(args, _settings())


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    return run_bench(_settings(), args)


COMMANDS: dict[str, Command] = {
    "send": cmd_send,
    "status": cmd_status,
    "wait": cmd_wait,
    "convert": cmd_convert,
    "worker": cmd_worker,
    "correlate": cmd_correlate,
    "webhook": cmd_webhook,
    "sim": cmd_sim,
    "up": cmd_up,
    "demo": cmd_demo,
    "dead": cmd_dead,
    "flower": cmd_flower,
    "report": cmd_report,
    "bench": cmd_bench,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``pinrelay`` parser wired to this module's commands (see :mod:`worker.cli_parser`)."""
    return cli_parser.build_parser(COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UnknownRequestError as exc:
        print(f"pinrelay: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print(f"pinrelay: invalid request: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"pinrelay: configuration error: {exc}", file=sys.stderr)
        return 2
    except PinrelayError as exc:
        print(f"pinrelay: {exc}", file=sys.stderr)
        return 1
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
        print(f"pinrelay: Redis/broker unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
