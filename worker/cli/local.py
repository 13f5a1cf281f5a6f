"""`pinrelay up` and `pinrelay demo`: the whole service on one machine, as real processes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker import constants as c
from worker.cli.common import load_settings, stop_event
from worker.config import ROUTE_NAMES


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("up", help="run workers, receiver and correlator in the foreground")
    p.add_argument("--webhook-port", type=int, default=c.DEFAULT_WEBHOOK_PORT)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--server-workers", type=int, default=1)
    p.add_argument("--with-sim", action="store_true", help="also run the provider simulator")
    p.set_defaults(func=run_up)

    p = sub.add_parser("demo", help="the end-to-end demo against the simulator")
    p.add_argument("-n", "--count", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--route", choices=ROUTE_NAMES, help="send every PIN over this provider route "
                   "(sc2fa, sms or twilio), all against the simulator")  # fmt: skip
    p.set_defaults(func=run_demo)


def run_up(args: argparse.Namespace) -> int:
    from worker.local.supervisor import Stack

    stack = Stack(load_settings())
    stop = stop_event()
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


def run_demo(args: argparse.Namespace) -> int:
    from worker.local.demo import run_demo as demo

    return demo(load_settings(), count=args.count, workers=args.workers, route=args.route)
