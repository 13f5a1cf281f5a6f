"""`pinrelay keys create|list|revoke`: the HTTP API's bearer keys (see :mod:`worker.api.keys`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from worker.cli.common import load_settings, print_json


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("keys", help="HTTP API keys: create (shown once), list, revoke")
    actions = p.add_subparsers(dest="keys_action", required=True)
    create = actions.add_parser("create", help='a new key; prints {"id", "key"} (the key only this once)')
    create.add_argument("name", help="what the key is for, e.g. the calling service")
    create.add_argument("--admin", action="store_true",
                        help="an admin key: may also use the admin routes (/v1/guard); others get 403")
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

    try:
        created = _keys().create(args.name, admin=args.admin)
    except ValueError as exc:
        raise ValidationError("name", str(exc)) from None
    print(json.dumps(created))
    return 0


def run_list(args: argparse.Namespace) -> int:
    print_json(_keys().list())
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    print_json(_keys().revoke(args.id))
    return 0
