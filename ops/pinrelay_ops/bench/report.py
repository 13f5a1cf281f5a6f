"""What a bench run found: rows per variant, goals with ratios, the table and the JSON.

A :class:`Row` is one measured variant of a scenario (ours or a naive
baseline); a :class:`Goal` is one target of the issue checked against a row or
a ratio of two rows. Goals are reported, never enforced: only lost work and
errors make a run fail, because timings drift on shared machines.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from pinrelay_ops.bench.stats import NO_LATENCY, Latency

MIB = 1024 * 1024
COMMAND_MIX = 10  # commands kept per row in the JSON


@dataclass
class Row:
    """One variant's figures; None where a figure does not apply."""

    scenario: str
    variant: str
    unit: str  # what ``rate`` counts, e.g. "sends/s"
    ops: int
    seconds: float
    rate: float
    latency: Latency = NO_LATENCY
    cpu_app_per_1k: float | None = None  # CPU s per 1,000 ops, the processes under test
    cpu_redis_per_1k: float | None = None  # CPU s per 1,000 ops, redis-server
    peak_rss_mb: float | None = None  # largest single process
    redis_bytes_per_op: float | None = None
    redis_cmds_per_op: float | None = None  # commands redis-server processed per operation
    redis_commands: dict[str, float] = field(default_factory=dict)  # the same, by command
    errors: int = 0
    lost: int = 0
    note: str = ""


def redis_usage(delta: Counter[str], ops: int) -> dict[str, Any]:
    """Row fields for the Redis commands ``ops`` operations caused (``Bench.commands`` delta)."""
    if ops <= 0:
        return {}
    top = {name: round(calls / ops, 2) for name, calls in delta.most_common(COMMAND_MIX)}
    return {"redis_cmds_per_op": delta.total() / ops, "redis_commands": top}


@dataclass
class Goal:
    """A target of the issue: ``value op target`` (op ">=" or "<="; "" for information only)."""

    scenario: str
    what: str
    value: float | None
    op: str
    target: float
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None or not self.op:
            return None
        return self.value >= self.target if self.op == ">=" else self.value <= self.target


@dataclass
class ScenarioResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    failure: str | None = None  # set when the scenario could not complete
    figures: dict[str, Any] = field(default_factory=dict)  # derived figures, by name, for the JSON

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.rows)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rows)

    @property
    def ok(self) -> bool:
        return self.failure is None and self.lost == 0 and self.errors == 0


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


ROW_HEADER = (
    f"{'scenario':<12} {'variant':<28} {'ops':>7} {'rate':>9} {'unit':<11} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'cpu/1k':>7} {'redis/1k':>8} {'RSS MB':>7} {'B/op':>6} {'cmd/op':>6} "
    f"{'err':>4} {'lost':>5}"
)


def row_line(row: Row) -> str:
    return (
        f"{row.scenario:<12} {row.variant:<28} {row.ops:>7} {row.rate:>9.0f} {row.unit:<11} "
        f"{_fmt(row.latency.p50_ms, '.2f'):>7} {_fmt(row.latency.p99_ms, '.2f'):>7} "
        f"{_fmt(row.cpu_app_per_1k, '.3f'):>7} {_fmt(row.cpu_redis_per_1k, '.3f'):>8} "
        f"{_fmt(row.peak_rss_mb, '.0f'):>7} {_fmt(row.redis_bytes_per_op):>6} "
        f"{_fmt(row.redis_cmds_per_op, '.1f'):>6} "
        f"{row.errors:>4} {row.lost:>5}"
    )


def goal_line(goal: Goal) -> str:
    verdict = {True: "met", False: "MISSED", None: "n/a" if goal.op else "info"}[goal.met]
    value = _fmt(goal.value, ".2f")
    wanted = f"{goal.op} {goal.target:g}" if goal.op else ""
    return f"{goal.scenario:<12} {goal.what:<56} {value:>9} {goal.unit:<3} {wanted:<10} {verdict}"


def print_report(results: Iterable[ScenarioResult], out: IO[str] = sys.stdout) -> None:
    results = list(results)
    print("\n" + ROW_HEADER, file=out)
    print("-" * len(ROW_HEADER), file=out)
    for result in results:
        for row in result.rows:
            print(row_line(row), file=out)
        if result.failure:
            print(f"{result.name:<12} FAILED: {result.failure}", file=out)
    print("\ntargets (same run; ratios are ours / naive baseline)", file=out)
    for result in results:
        for goal in result.goals:
            print(goal_line(goal), file=out)
    for result in results:
        for note in result.notes:
            print(f"note [{result.name}]: {note}", file=out)
    for result in results:
        for where, top in result.profiles.items():
            shown = "; ".join(f"{name} {share:.0f}%" for name, share in top[:3])
            print(f"profile [{result.name}/{where}]: {shown}", file=out)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        probe = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        wrk_version = (probe.stdout or probe.stderr).splitlines()[0] if (probe.stdout or probe.stderr) else ""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk_version,
    }


def write_json(path: str, results: Iterable[ScenarioResult], extra: dict[str, Any]) -> None:
    data: dict[str, Any] = dict(extra)
    data["scenarios"] = {}
    for result in results:
        entry = asdict(result)
        entry["ok"] = result.ok
        entry["lost"] = result.lost
        entry["errors"] = result.errors
        for goal, raw in zip(result.goals, entry["goals"], strict=True):
            raw["met"] = goal.met
        data["scenarios"][result.name] = entry
    data["ok"] = all(s["ok"] for s in data["scenarios"].values())
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
