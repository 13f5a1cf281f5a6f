"""``python -m pinrelay_ops.bench``: ``pinrelay bench`` plus developer options.

``--loadgen {auto,wrk,python}`` forces a load generator (``python`` checks the
fallback CI uses on a machine without wrk); ``--profile DIR`` records py-spy
profiles of the processes under test during each measured phase.
"""

from __future__ import annotations

import argparse
import sys

from pinrelay_ops.bench.runner import run_bench
from worker.config import Settings
from worker.logs import configure_logging


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pinrelay_ops.bench")
    parser.add_argument("--short", action="store_true", help="a few seconds per scenario (CI)")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--json", default="bench-results.json", help="where to write the figures")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--profile", metavar="DIR", help="py-spy profiles of each measured phase")
    args = parser.parse_args()
    settings = Settings.from_env()
    configure_logging(settings)
    return run_bench(settings, args)


if __name__ == "__main__":
    sys.exit(main())
