"""`pinrelay routes`: every provider route's breaker, its reason and last change, and its delivery rate."""

from __future__ import annotations

import argparse
from typing import Any

from worker.cli.common import load_settings, print_json


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("routes", help="each provider route's breaker state and delivery rate as JSON",
                       description="Prints one object per route of PINRELAY_ROUTES, in failover order: "
                       "state (closed/half_open/open), reason, changed_at, the delivery success rate over "
                       "the last receipts, health (healthy/degraded), the denylist size and the "
                       "(route, country) breakers that have refusals on record (countries).")
    p.set_defaults(func=run_routes)


def run_routes(args: argparse.Namespace) -> int:
    from worker.redisconn import redis_client
    from worker.send.route_health import route_status

    settings = load_settings().require_redis()
    client = redis_client(settings.redis_url or "")
    try:
        print_json(route_status(client, settings))
    finally:
        client.close()
    return 0
