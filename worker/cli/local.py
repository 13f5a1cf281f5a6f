"""`pinrelay up` and `pinrelay demo`: the whole service on one machine, as real processes."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from worker import constants as c
from worker.cli.common import load_settings, stop_event
from worker.config import ROUTE_NAMES, redact_url


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("up", help="run workers, receiver and correlator in the foreground; their "
                       "log lines appear on stderr, each marked with its component")
    p.add_argument("--webhook-port", type=int, default=c.DEFAULT_WEBHOOK_PORT,
                   help="receipt receiver port on 127.0.0.1 (default %(default)s)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--server-workers", type=int, default=1, help="receiver processes (default 1)")
    p.add_argument("--with-sim", action="store_true", help="also run the provider simulator")
    p.add_argument("--sim-port", type=int, default=None,
                   help="simulator port with --with-sim (default: a free one)")
    p.add_argument("--api-port", type=int, default=None, help="also run the HTTP producer API on this port")
    p.add_argument("--stop-grace", type=float, default=c.UP_STOP_GRACE_S, metavar="SECONDS",
                   help="on SIGTERM/SIGINT every component gets this long, together, to stop; then "
                   "SIGKILL (a second signal kills at once); its Redis gets 5 s more (default %(default)g)")
    p.set_defaults(func=run_up)

    p = sub.add_parser("demo", help="the end-to-end demo against the simulator")
    p.add_argument("-n", "--count", type=int, default=None,
                   help="PINs (default 200), or users with --verify (default 20)")
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument("--verify", action="store_true",
                   help="the verify loop instead: simulated users read the code and type it in")
    p.add_argument("--route", choices=ROUTE_NAMES, help="send every PIN over this provider route "
                   "(sc2fa, sms or twilio), all against the simulator")
    p.set_defaults(func=run_demo)


def _ports(args: argparse.Namespace, metrics_port: int) -> list[tuple[str, int]]:
    """Every fixed port `up` will listen on, named as the operator configured it."""
    ports = [("receipt receiver, --webhook-port", args.webhook_port)]
    if args.with_sim and args.sim_port:
        ports.append(("simulator, --sim-port", args.sim_port))
    if metrics_port:
        ports += [("worker metrics, PINRELAY_METRICS_PORT", metrics_port),
                  ("correlator metrics, PINRELAY_METRICS_PORT + 1", metrics_port + 1),
                  ("callbacks worker metrics, PINRELAY_METRICS_PORT + 2", metrics_port + 2)]
    return ports


def run_up(args: argparse.Namespace) -> int:
    """Check, then start: credentials and ports first, so nothing half-starts."""
    from webhook.http.ports import require_free_ports
    from worker.local.relay import Relay
    from worker.local.supervisor import Stack
    from worker.logs import get_logger, log_ready

    settings = load_settings()
    if not args.with_sim:
        settings.check_provider_credentials()
    require_free_ports(_ports(args, settings.metrics_port))
    log = get_logger("pinrelay.up")
    stack = Stack(settings, relay=Relay(sys.stderr, json_lines=settings.log_format == "json"))
    stop = stop_event()
    try:
        stack.ensure_redis(write_runtime_file=True)
        if args.with_sim:
            stack.start_sim("--dlr-url", f"http://127.0.0.1:{args.webhook_port}/delivery-receipt-webhook",
                            port=args.sim_port)
        stack.start_webhook(args.webhook_port, workers=args.server_workers)
        # One metrics port each: the worker gets PINRELAY_METRICS_PORT, the correlator the next,
        # the callbacks worker the one after.
        metrics = settings.metrics_port
        stack.start_correlator(**({"PINRELAY_METRICS_PORT": str(metrics + 1)} if metrics else {}))
        stack.start_worker(concurrency=args.workers)
        # Callbacks, conversion reports and the verify expiry on a pool of their own (and port + 2).
        stack.start_worker("callbacks", callbacks=True,
                           env={"PINRELAY_METRICS_PORT": str(metrics + 2)} if metrics else None)
        if args.api_port is not None:
            stack.start_api(args.api_port)
        print(json.dumps({"status": "up", "redis": redact_url(stack.settings.redis_url or ""),
                          "webhook": stack.webhook_url, "simulator": stack.sim_url,
                          "api": stack.api_url}), flush=True)
        log_ready(log, stack.settings, webhook=stack.webhook_url, simulator=stack.sim_url,
                  api=stack.api_url, components=sorted(stack.processes))
        while not stop.wait(1.0):
            dead = [p for p in stack.processes.values() if not p.alive]
            if dead:
                for proc in dead:
                    code = proc.process.returncode if proc.process else None
                    log.error("component_exited", component=proc.name, exit_code=code,
                              hint="its last lines are above; stopping everything")
                return 1
        return 0
    finally:
        hurry = threading.Event()  # a second stop signal: no more waiting
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: hurry.set())
        killed = stack.stop(max(0.0, args.stop_grace), hurry)
        if killed:
            log.warning("components_killed", components=killed, grace_s=args.stop_grace,
                        hint="still running after the grace (or a second stop signal): SIGKILL")


def run_demo(args: argparse.Namespace) -> int:
    if args.verify:
        from worker.local.verify_demo import run_verify_demo

        return run_verify_demo(load_settings(), count=args.count or 20, workers=args.workers)
    from worker.local.demo import run_demo as demo

    return demo(load_settings(), count=args.count or 200, workers=args.workers, route=args.route)
