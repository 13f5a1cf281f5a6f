"""`pinrelay keys create|list|revoke`: the HTTP API's bearer keys (see :mod:`worker.api.keys`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from worker.cli.common import load_settings, print_json

STDIN = "-"  # --callback-secret -: read it from standard input


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("keys", help="HTTP API keys: create (shown once), list, revoke")
    actions = p.add_subparsers(dest="keys_action", required=True)
    create = actions.add_parser("create", help='a new key; prints {"id", "key"} (the key only this once)')
    create.add_argument("name", help="what the key is for, e.g. the calling service")
    create.add_argument("--admin", action="store_true",
                        help="an admin key: may also use the admin routes (/v1/guard); others get 403")
    create.add_argument("--callback-secret", nargs="?", const="", default=None, metavar="-",
                        help="sign this key's outcome callbacks with a secret of its own instead of "
                        "PINRELAY_CALLBACK_SECRET: alone, one is made and printed once "
                        "(\"callback_secret\"); '-' reads yours (32-256 characters) from standard input")
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="every key's id, name, creation, last use, revocation")
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key at once, for every API process")
    revoke.add_argument("id", help="the key's id (from create or list), not the key")
    revoke.set_defaults(func=run_revoke)


def _keys() -> Any:
    from worker.api.keys import ApiKeys
    from worker.redisconn import redis_client

    settings = load_settings().require_redis()
    return ApiKeys(redis_client(settings.redis_url or ""), settings.key_prefix)


def run_create(args: argparse.Namespace) -> int:
    from worker.errors import ValidationError

    given = args.callback_secret
    if given not in (None, "", STDIN):  # a secret on the command line is in `ps` and the shell history
        raise ValidationError("callback_secret", "give --callback-secret alone (one is made) or '-' "
                              "(read from standard input), never the secret itself")
    if given == STDIN:
        given = sys.stdin.readline().strip()
        if not given:
            raise ValidationError("callback_secret", "nothing on standard input")
    try:
        created = _keys().create(args.name, given, admin=args.admin)
    except ValueError as exc:
        field = "callback_secret" if "callback secret" in str(exc) else "name"
        raise ValidationError(field, str(exc)) from None
    print(json.dumps(created))
    return 0


def run_list(args: argparse.Namespace) -> int:
    print_json(_keys().list())
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    print_json(_keys().revoke(args.id))
    return 0
