"""The ``pinrelay`` command-line surface, kept apart from what each command does.

Command names, options and help texts here are a public contract; the
behaviour behind them is in :mod:`worker.cli`. Keeping the table on its own
makes a change to the contract visible as a change to this file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

from . import constants as c

Command = Callable[[argparse.Namespace], int]
"""One subcommand: takes the parsed arguments, returns the process exit code."""


def build_parser(commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    """The ``pinrelay`` parser; each subcommand's ``func`` default is ``commands[<its name>]``.

    The commands are passed in rather than imported so this module never imports
    :mod:`worker.cli` (which imports it). A name missing from ``commands`` is a
    ``KeyError`` here, at start-up, not a silent subcommand that does nothing.
    """
    parser = argparse.ArgumentParser(prog="pinrelay", description="Deliver 2FA PINs by SMS.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("send", help='enqueue one PIN; prints {"id": ...}')
    p.add_argument("to", help="E.164 digits with country code, no '+', e.g. 16365553226")
    p.add_argument("--pin", required=True, help="4-10 digits")
    p.add_argument("--client-ref", help="your reference, at most 40 characters")
    p.add_argument("--idempotency-key", help="repeat-safe key: the same key returns the same id")
    p.add_argument("--expires-in", type=int, help="seconds after which the PIN is not sent")
    p.set_defaults(func=commands["send"])

    p = sub.add_parser("status", help="print a send's record as JSON")
    p.add_argument("id")
    p.set_defaults(func=commands["status"])

    p = sub.add_parser("wait", help="wait until a send settles; print the record")
    p.add_argument("id")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=commands["wait"])

    p = sub.add_parser("convert", help="enqueue a conversion report for a send")
    p.add_argument("id")
    p.add_argument("--delivered", type=_bool, default=True, metavar="true/false")
    p.set_defaults(func=commands["convert"])

    p = sub.add_parser("worker", help="run one Celery worker (same as celery -A worker worker)")
    p.add_argument("--concurrency", type=int)
    p.add_argument("--pool", choices=["prefork", "threads", "solo"])
    p.add_argument("--name", help="Celery node name, e.g. worker1@%%h")
    p.set_defaults(func=commands["worker"])

    p = sub.add_parser("correlate", help="run the receipt correlator")
    p.set_defaults(func=commands["correlate"])

    p = sub.add_parser("webhook", help="run the receipt receiver under granian")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=c.DEFAULT_WEBHOOK_PORT)
    p.add_argument("--server-workers", type=int, default=2)
    p.set_defaults(func=commands["webhook"])

    p = sub.add_parser("sim", help="run the provider simulator")
    from ops.simulator.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=commands["sim"])

    p = sub.add_parser("up", help="run workers, receiver and correlator in the foreground")
    p.add_argument("--webhook-port", type=int, default=c.DEFAULT_WEBHOOK_PORT)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--server-workers", type=int, default=1)
    p.add_argument("--with-sim", action="store_true", help="also run the provider simulator")
    p.set_defaults(func=commands["up"])

    p = sub.add_parser("demo", help="the end-to-end demo against the simulator")
    p.add_argument("-n", "--count", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=commands["demo"])

    p = sub.add_parser("dead", help="inspect and replay dead letters")
    p.add_argument("action", choices=["list", "show", "replay", "purge"])
    p.add_argument("kind", nargs="?", default="sends", choices=["sends", "receipts", "tasks"])
    p.add_argument("id", nargs="?")
    p.set_defaults(func=commands["dead"])

    p = sub.add_parser("flower", help="the Celery dashboard (basic auth required)")
    from .flower import add_arguments as flower_arguments

    flower_arguments(p)
    p.set_defaults(func=commands["flower"])

    p = sub.add_parser("report", help="delivery rates, latencies and breakdowns from the records")
    from .report import add_arguments as report_arguments

    report_arguments(p)
    p.set_defaults(func=commands["report"])

    p = sub.add_parser("bench", help="the benchmark suite")
    p.add_argument("--short", action="store_true", help="a few seconds per scenario (CI)")
    p.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    p.add_argument("--json", default="bench-results.json", help="where to write the figures")
    p.set_defaults(func=commands["bench"])
    return parser


def _bool(text: str) -> bool:
    """``--delivered true/false``: argparse's ``type=bool`` would take "false" as True."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
