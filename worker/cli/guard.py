"""`pinrelay guard status|unblock|allow`: watch and steer the pumping guard (:mod:`worker.guard`).

``status`` prints JSON: the mode, the prefixes blocked (and, in monitor mode, those it would
have blocked), the safe list, each quota's use now and the highest use of the last 24 h.
``unblock PREFIX`` lifts a block at once for every process (exit 1 when the prefix is not
blocked); ``allow PREFIX|NUMBER`` puts a prefix or a number on the never-block list
(``--remove`` takes it off again; exit 1 when it was not on it). Bad input exits 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from worker.cli.common import load_settings, print_json


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("guard", help="the pumping guard: status (JSON), unblock a prefix, allow a number",
                       description="Watch and steer the pumping guard. A prefix is an E.164 number "
                       "(digits, no '+') without its last four digits.")
    actions = p.add_subparsers(dest="guard_action", required=True)
    status = actions.add_parser("status", help="mode, blocked and would-block prefixes, safe list and "
                                "each quota's use, as JSON")
    status.set_defaults(func=run_status)
    unblock = actions.add_parser("unblock", help="lift a prefix's block now and start its window afresh "
                                 "(exit 1 when it is not blocked)")
    unblock.add_argument("prefix", help="the blocked prefix, as `guard status` lists it")
    unblock.set_defaults(func=run_unblock)
    allow = actions.add_parser("allow", help="never block this prefix or number (the run-time safe list)")
    allow.add_argument("entry", metavar="PREFIX|NUMBER", help="a prefix or a whole number, E.164 digits")
    allow.add_argument("--remove", action="store_true",
                       help="take it off the run-time safe list instead (exit 1 when it is not on it)")
    allow.set_defaults(func=run_allow)


def _client() -> tuple[Any, Any]:
    from worker.redisconn import redis_client

    settings = load_settings().require_redis()
    return settings, redis_client(settings.redis_url or "")


def run_status(args: argparse.Namespace) -> int:
    from worker.guard.limits import Limits
    from worker.guard.status import guard_status

    settings, client = _client()
    try:
        print_json(guard_status(client, settings.key_prefix, Limits.from_settings(settings)))
    finally:
        client.close()
    return 0


def run_unblock(args: argparse.Namespace) -> int:
    from worker.guard.admin import clean_entry, unblock

    target = clean_entry(args.prefix, "PREFIX", plus=True)
    settings, client = _client()
    try:
        print_json(unblock(client, settings.key_prefix, target))
    finally:
        client.close()
    return 0


def run_allow(args: argparse.Namespace) -> int:
    from worker.guard.admin import allow, clean_entry, disallow

    entry = clean_entry(args.entry, "PREFIX|NUMBER", plus=True)
    settings, client = _client()
    try:
        change = disallow if args.remove else allow
        print_json(change(client, settings.key_prefix, entry))
    finally:
        client.close()
    return 0
