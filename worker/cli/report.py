"""`pinrelay report`: the delivery report of the records in Redis, as text, JSON or an HTML page."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from worker.cli.common import load_settings
from worker.config import Settings
from worker.errors import UsageError
from worker.report.summary import DEFAULT_SINCE, parse_since, scan_rows, summarize
from worker.report.text import render_text


def add_arguments(sub: Any) -> None:
    parser = sub.add_parser("report", help="delivery rates, latencies and breakdowns from the records")
    parser.add_argument("--since", type=parse_since, default=DEFAULT_SINCE, metavar="SPAN",
                        help="records created within SPAN, e.g. 15m, 1h, 2d, all")
    parser.add_argument("--html", metavar="FILE",
                        help="also write a self-contained HTML page with tables and plots (needs "
                             "pip install 'pinrelay[report]')")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON object instead of the text report")
    parser.add_argument("--top", type=int, default=10, metavar="N",
                        help="prefixes shown in the pumping-guard section, the busiest first")
    parser.set_defaults(func=lambda args: run(args, load_settings()))


def _check_html_target(path: str) -> None:
    """Fail before scanning, in one line, when the page could not be written or drawn."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--html {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--html {path}: the folder {folder} is not writable")
    from worker.report.plots import require_matplotlib

    require_matplotlib()


def _progress(scanned: int) -> None:
    print(f"pinrelay report: {scanned:,} records read ...", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, settings: Settings, client: Any = None) -> int:
    """Print the report (and write ``--html``); 0 even for an empty window."""
    from worker.redisconn import redis_client

    html_path, as_json = getattr(args, "html", None), getattr(args, "json", False)
    if html_path:
        _check_html_target(html_path)
    settings = settings.require_redis()
    client = client or redis_client(settings.redis_url or "")
    now = time.time()
    since_ts = now - args.since if args.since != float("inf") else 0.0
    summary = summarize(scan_rows(client, settings.key_prefix, since_ts, progress=_progress))
    window = "all records" if since_ts == 0.0 else (
        f"created since {datetime.fromtimestamp(since_ts, UTC):%Y-%m-%d %H:%M:%S} UTC")
    at = datetime.fromtimestamp(now, UTC)
    title = (f"pinrelay report: {summary.total} sends {window} "
             f"(prefix {settings.key_prefix!r}, at {at:%H:%M:%S} UTC)")
    from worker.report.guard import guard_html, guard_rows, read_stats, render_guard_text
    from worker.verify.report import (
        add_verify_section,
        render_verify_text,
        summarize_verifications,
        verify_as_dict,
    )

    verify = summarize_verifications(client, settings.key_prefix, since_ts)  # empty without verifications
    guard = guard_rows(summary, read_stats(client, settings.key_prefix), top=getattr(args, "top", 10))
    if as_json:
        from worker.report.data import as_dict

        data = as_dict(summary, title=title, since=since_ts or None, at=now, prefix=settings.key_prefix)
        data["verify"] = verify_as_dict(verify)
        data["guard"] = guard
        print(json.dumps(data, indent=2))
    else:
        print(render_text(summary, title) + render_verify_text(verify) + render_guard_text(guard), end="")
    if html_path:
        from worker.report.html import render_html

        page = guard_html(add_verify_section(render_html(summary, title, generated_at=now), verify), guard)
        try:
            with open(html_path, "w", encoding="utf-8") as out:
                out.write(page)
        except OSError as exc:
            raise UsageError(f"--html {html_path}: {exc.strerror or exc}") from None
        print(f"HTML report written to {html_path}", file=sys.stderr if as_json else sys.stdout)
    return 0
