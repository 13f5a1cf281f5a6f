"""`pinrelay bench`: the benchmark suite (:mod:`pinrelay_ops.bench`), which needs the ``bench`` extra.

The suite is not product code: it measures it. Its own dependencies (psutil for CPU
and RSS, gunicorn for a naive baseline) come with ``pip install 'pinrelay[bench]'``;
without them ``pinrelay bench --help`` still works and a run says what to install.
"""

from __future__ import annotations

import argparse
from typing import Any

from worker.cli.common import load_settings
from worker.errors import ConfigError

BENCH_EXTRA_MODULES = ("psutil", "gunicorn")


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("bench", help="the benchmark suite (needs pip install 'pinrelay[bench]')")
    p.add_argument("--short", action="store_true", help="a few seconds per scenario (CI)")
    p.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    p.add_argument("--json", default="bench-results.json", help="where to write the figures")
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    import importlib.util

    missing = [m for m in BENCH_EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"pinrelay bench needs {', '.join(missing)}: pip install 'pinrelay[bench]'")
    from pinrelay_ops.bench import run_bench as bench

    return bench(load_settings(), args)
