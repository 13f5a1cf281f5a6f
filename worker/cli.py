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

from . import constants as c
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinrelay", description="Deliver 2FA PINs by SMS.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("send", help="enqueue one PIN; prints {\"id\": ...}")
    p.add_argument("to", help="E.164 digits with country code, no '+', e.g. 16365553226")
    p.add_argument("--pin", required=True, help="4-10 digits")
    p.add_argument("--client-ref", help="your reference, at most 40 characters")
    p.add_argument("--idempotency-key", help="repeat-safe key: the same key returns the same id")
    p.add_argument("--expires-in", type=int, help="seconds after which the PIN is not sent")
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("status", help="print a send's record as JSON")
    p.add_argument("id")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("wait", help="wait until a send settles; print the record")
    p.add_argument("id")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("convert", help="enqueue a conversion report for a send")
    p.add_argument("id")
    p.add_argument("--delivered", type=_bool, default=True, metavar="true/false")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("worker", help="run one Celery worker (same as celery -A worker worker)")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--pool", choices=["prefork", "threads", "solo"])
    p.add_argument("--name", help="Celery node name, e.g. worker1@%%h")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("correlate", help="run the receipt correlator")
    p.set_defaults(func=cmd_correlate)

    p = sub.add_parser("webhook", help="run the receipt receiver under granian")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=c.DEFAULT_WEBHOOK_PORT)
    p.add_argument("--server-workers", type=int, default=2)
    p.set_defaults(func=cmd_webhook)

    p = sub.add_parser("sim", help="run the provider simulator")
    from ops.simulator.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("up", help="run workers, receiver and correlator in the foreground")
    p.add_argument("--webhook-port", type=int, default=c.DEFAULT_WEBHOOK_PORT)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--server-workers", type=int, default=1)
    p.add_argument("--with-sim", action="store_true", help="also run the provider simulator")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("demo", help="the end-to-end demo against the simulator")
    p.add_argument("-n", "--count", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("dead", help="inspect and replay dead letters")
    p.add_argument("action", choices=["list", "show", "replay", "purge"])
    p.add_argument("kind", nargs="?", default="sends", choices=["sends", "receipts", "tasks"])
    p.add_argument("id", nargs="?")
    p.set_defaults(func=cmd_dead)

    p = sub.add_parser("flower", help="the Celery dashboard (basic auth required)")
    from .flower import add_arguments as flower_arguments

    flower_arguments(p)
    p.set_defaults(func=cmd_flower)

    p = sub.add_parser("report", help="delivery rates, latencies and breakdowns from the records")
    from .report import add_arguments as report_arguments

    report_arguments(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("bench", help="the benchmark suite")
    p.add_argument("--short", action="store_true", help="a few seconds per scenario (CI)")
    p.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    p.add_argument("--json", default="bench-results.json", help="where to write the figures")
    p.set_defaults(func=cmd_bench)
    return parser


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


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
