"""`pinrelay api`: the HTTP producer API under granian (see :mod:`worker.api`)."""

from __future__ import annotations

import argparse
from typing import Any

from worker import constants as c
from worker.cli.common import load_settings


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("api", help="run the HTTP producer API (bearer keys: `pinrelay keys`)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=c.DEFAULT_API_PORT, help="port (default %(default)s)")
    p.add_argument("--server-workers", type=int, default=1, help="granian worker processes (default 1)")
    p.set_defaults(func=run_api)


def run_api(args: argparse.Namespace) -> int:
    from worker.api.serve import serve

    settings = load_settings().require_redis()
    return serve(settings, host=args.host, port=args.port, workers=args.server_workers)
