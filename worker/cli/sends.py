"""`pinrelay send`, `status`, `wait`, `convert`: what a producer does from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker.cli.common import EXIT_WAIT_TIMEOUT, parse_bool, print_json, producer
from worker.states import SETTLED_STATES


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("send", help='enqueue one PIN; prints {"id": ...}')
    p.add_argument("to", help="E.164 number with country code, e.g. 16365553226 or +16365553226")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--pin", help="4-10 ASCII digits; visible to every user in `ps` and in "
                        "shell history, so prefer --pin-stdin")
    source.add_argument("--pin-stdin", action="store_true",
                        help="read the PIN from standard input (one line), never in `ps`")
    p.add_argument("--client-ref", help="your reference, at most 40 characters")
    p.add_argument("--idempotency-key", help="repeat-safe key: the same key returns the same id")
    p.add_argument("--expires-in", type=int,
                   help="seconds after which the PIN is not sent (default: PINRELAY_PIN_EXPIRY)")
    p.add_argument("--callback-url", help="http(s) URL that gets the record, signed, once the send settles")
    p.add_argument("--expect-conversion", action="store_true",
                   help="you will report whether the PIN was used (`pinrelay convert`): the pumping "
                   "guard judges its number range by it")
    p.set_defaults(func=run_send)

    p = sub.add_parser("status", help="print a send's record as JSON")
    p.add_argument("id", help='the request id `send` printed ({"id": ...})')
    p.set_defaults(func=run_status)

    p = sub.add_parser("wait", help="wait until a send settles; print the record (exit 3 if it "
                       "has not settled in time)")
    p.add_argument("id", help="the request id")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for a final or unconfirmed state")
    p.set_defaults(func=run_wait)

    p = sub.add_parser("convert", help="enqueue a conversion report for a send")
    p.add_argument("id", help="the request id")
    p.add_argument("--delivered", type=parse_bool, default=True, metavar="true/false",
                   help="whether the user got and used the PIN")
    p.set_defaults(func=run_convert)


def run_send(args: argparse.Namespace) -> int:
    pin = sys.stdin.readline().strip() if args.pin_stdin else args.pin
    request_id = producer().send_pin(
        args.to, pin, args.client_ref,
        idempotency_key=args.idempotency_key, expires_in=args.expires_in,
        callback_url=args.callback_url, expect_conversion=args.expect_conversion,
    )
    print(json.dumps({"id": request_id}))
    return 0


def run_status(args: argparse.Namespace) -> int:
    print_json(producer().get_status(args.id))
    return 0


def run_wait(args: argparse.Namespace) -> int:
    """The record once settled (exit 0), or as it stands when ``--timeout`` ran out (exit 3)."""
    record = producer().wait(args.id, args.timeout)
    print_json(record)
    if record.get("state") not in SETTLED_STATES:
        print(f"pinrelay: {args.id} has not settled after {args.timeout:g}s "
              f"(state {record.get('state')})", file=sys.stderr)
        return EXIT_WAIT_TIMEOUT
    return 0


def run_convert(args: argparse.Namespace) -> int:
    producer().report_conversion(args.id, delivered=args.delivered)
    print(json.dumps({"id": args.id, "conversion": "queued", "delivered": args.delivered}))
    return 0
