"""`pinrelay report`: the delivery report of the records in Redis, as text and HTML."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from worker.cli.common import load_settings
from worker.config import Settings
from worker.report.summary import DEFAULT_SINCE, parse_since, scan_rows, summarize
from worker.report.text import render_text


def add_arguments(sub: Any) -> None:
    parser = sub.add_parser("report", help="delivery rates, latencies and breakdowns from the records")
    parser.add_argument("--since", type=parse_since, default=parse_since(DEFAULT_SINCE), metavar="SPAN",
                        help=f"records created within SPAN, e.g. 15m, 1h, 2d, all (default {DEFAULT_SINCE})")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page with plots")
    parser.set_defaults(func=lambda args: run(args, load_settings()))


def run(args: argparse.Namespace, settings: Settings, client: Any = None) -> int:
    """Print the report (and write ``--html``); 0 even for an empty window."""
    from worker.local.runtime import require_redis
    from worker.redisconn import redis_client

    settings = require_redis(settings)
    client = client or redis_client(settings.redis_url or "")
    now = time.time()
    since_ts = now - args.since if args.since != float("inf") else 0.0
    summary = summarize(scan_rows(client, settings.key_prefix, since_ts))
    window = "all records" if since_ts == 0.0 else (
        f"created since {datetime.fromtimestamp(since_ts, UTC):%Y-%m-%d %H:%M:%S} UTC")
    at = datetime.fromtimestamp(now, UTC)
    title = (f"pinrelay report: {summary.total} sends {window} "
             f"(prefix {settings.key_prefix!r}, at {at:%H:%M:%S} UTC)")
    from worker.verify.report import add_verify_section, render_verify_text, summarize_verifications

    verify = summarize_verifications(client, settings.key_prefix, since_ts)  # empty without verifications
    print(render_text(summary, title) + render_verify_text(verify), end="")
    if args.html:
        from worker.report.html import render_html

        with open(args.html, "w", encoding="utf-8") as out:
            out.write(add_verify_section(render_html(summary, title, render_text(summary, title)), verify))
        print(f"\nHTML report written to {args.html}")
    return 0
