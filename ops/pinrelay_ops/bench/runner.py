"""Runs the chosen scenarios on a private Redis, prints the table, writes the JSON.

Exit status: 0 when every scenario completed with nothing lost and no errors,
1 otherwise. Targets are printed as met or missed but never fail a run: timings
drift on shared machines, lost work does not.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Final

from pinrelay_ops.bench import correlation, enqueue, receipts, sends
from pinrelay_ops.bench.harness import Bench, bench_settings
from pinrelay_ops.bench.loadgen import choose_tool
from pinrelay_ops.bench.plan import FULL, SHORT
from pinrelay_ops.bench.profiling import Profiler
from pinrelay_ops.bench.report import ScenarioResult, machine, print_report, write_json
from worker.config import Settings
from worker.local.embedded import EmbeddedRedis
from worker.redisconn import redis_client

SCENARIOS: Final[dict[str, Callable[[Bench], ScenarioResult]]] = {
    "sends": sends.run,
    "receipts": receipts.run,
    "correlation": correlation.run,
    "enqueue": enqueue.run,
}


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``args.only`` (default: every scenario); ``--short`` for CI-sized runs."""
    names: list[str] = list(args.only or SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"pinrelay bench: unknown scenario {', '.join(unknown)}; "
              f"choose from {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    plan = SHORT if args.short else FULL
    tool = choose_tool(getattr(args, "loadgen", None) or "auto")
    profile_dir = getattr(args, "profile", None)
    profiler = Profiler(Path(profile_dir)) if profile_dir else None
    log_dir = Path(tempfile.mkdtemp(prefix="pinrelay-bench-"))
    info = machine()
    print(f"pinrelay bench ({plan.name}): {', '.join(names)}; load generator {tool}; "
          f"{info['nproc']} cores, {info['cpu_model']}; logs in {log_dir}", flush=True)
    results: list[ScenarioResult] = []
    started = time.monotonic()
    with _sigterm_as_interrupt(), EmbeddedRedis(appendonly=True) as server:
        client = redis_client(server.url, socket_timeout=None)  # seeding pipelines may take long
        assert server.process is not None
        bench = Bench(bench_settings(settings, server.url), plan, client, server.process.pid,
                      log_dir, tool, profiler)
        try:
            for name in names:
                results.append(_run_one(name, bench))
        finally:
            client.close()
    print_report(results)
    write_json(args.json, results, {
        "plan": plan.name, "loadgen": tool, "machine": info, "seconds": time.monotonic() - started,
        "command": _command(), "log_dir": str(log_dir),
    })
    failed = [r.name for r in results if not r.ok]
    print(f"\nwrote {args.json}; " + (f"FAILED: {', '.join(failed)}" if failed else "all scenarios "
          "completed, nothing lost"))
    return 1 if failed else 0


def _command() -> str:
    """How this run was started, as a user would type it."""
    program = sys.argv[0].replace(os.sep, "/")
    if program.endswith("worker/cli.py") or Path(program).name == "pinrelay":
        return shlex.join(["pinrelay", *sys.argv[1:]])
    if program.endswith("worker/bench/__main__.py"):
        return shlex.join(["python", "-m", "pinrelay_ops.bench", *sys.argv[1:]])
    return shlex.join(sys.argv)


def _run_one(name: str, bench: Bench) -> ScenarioResult:
    began = time.monotonic()
    print(f"[{name}] running", flush=True)
    load_before = os.getloadavg()[0]
    try:
        result = SCENARIOS[name](bench)
    except Exception as exc:
        traceback.print_exc()
        result = ScenarioResult(name, failure=f"{type(exc).__name__}: {exc}")
    result.notes.append(f"1-minute load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
                        f"(above {os.cpu_count()} something else competed for the CPUs)")
    state = "ok" if result.ok else f"FAILED (lost {result.lost}, errors {result.errors})"
    print(f"[{name}] {state} in {time.monotonic() - began:.1f}s", flush=True)
    return result


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every process the bench started is stopped."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
