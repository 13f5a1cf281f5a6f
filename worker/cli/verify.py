"""`pinrelay verify start|check|resend|status`: the whole verify loop from a shell.

``check`` exits 0 only when the code is approved and 1 for every other status, so a
script can write ``printf '%s\n' "$CODE" | pinrelay verify check "$ID" - && login``: with
``-`` the code is read from stdin, so it is not on a command line, which ``ps`` shows every
user of the machine. Every subcommand needs ``PINRELAY_VERIFY_SECRET`` (at least 32
characters) and refuses to start without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker import constants as c
from worker.cli.common import load_settings, print_json

_STDIN_LIMIT = 64  # characters of stdin a `check ID -` reads at most


def add_arguments(sub: Any) -> None:
    group = sub.add_parser("verify", help="pinrelay generates, sends and checks the code itself")
    verbs = group.add_subparsers(dest="verify_command", required=True)

    p = verbs.add_parser("start", help='send a new code to TO; prints {"id": ...}')
    p.add_argument("to", help="E.164 digits with country code, no '+', e.g. 16365553226")
    p.add_argument("--client-ref", help="your reference, at most 40 characters")
    p.add_argument("--length", type=int, help=f"digits of the code, {c.VERIFY_MIN_LENGTH}-"
                   f"{c.VERIFY_MAX_LENGTH} (default PINRELAY_VERIFY_LENGTH)")
    p.add_argument("--ttl", type=int, help=f"seconds the code is valid, at most {c.VERIFY_MAX_TTL_S} "
                   "(default PINRELAY_VERIFY_TTL)")
    p.set_defaults(func=run_start)

    p = verbs.add_parser("check", help="check a typed-in code; exit 0 only when approved")
    p.add_argument("id", help="the verification id `verify start` printed")
    p.add_argument("code", help="the code as the user typed it, or - to read it from the first line of "
                   "stdin (keeps it off the command line, which other users can see in ps)")
    p.set_defaults(func=run_check)

    p = verbs.add_parser("resend", help="a new code for the same verification (the old one stops working)")
    p.add_argument("id", help="the verification id")
    p.set_defaults(func=run_resend)

    p = verbs.add_parser("status", help="print the verification as JSON (never its code)")
    p.add_argument("id", help="the verification id")
    p.set_defaults(func=run_status)


def _verifier() -> Any:
    """The default verifier, after refusing to start without a usable PINRELAY_VERIFY_SECRET."""
    import worker
    from worker.config.rules import verify_key

    verify_key(load_settings().verify_secret)
    return worker.default_verifier()


def run_start(args: argparse.Namespace) -> int:
    verification_id = _verifier().start(args.to, args.client_ref, args.length, args.ttl)
    print(json.dumps({"id": verification_id}))
    return 0


def run_check(args: argparse.Namespace) -> int:
    # A bounded read: anything longer than a code is a wrong code whatever follows.
    code = sys.stdin.readline(_STDIN_LIMIT).rstrip("\r\n") if args.code == "-" else args.code
    result = _verifier().check(args.id, code)
    print(json.dumps(result))
    return 0 if result["status"] == "approved" else 1


def run_resend(args: argparse.Namespace) -> int:
    print(json.dumps({"id": _verifier().resend(args.id)}))
    return 0


def run_status(args: argparse.Namespace) -> int:
    print_json(_verifier().get(args.id))
    return 0
