"""The sends scenario's targets (the issue's, printed met or missed) and the figures derived from its rows.

Ratios are pinrelay / naive baseline from the same run. Information lines
(op "") carry what has no target: the Redis-core ceiling (sends/s one Redis
core can carry, 1 / Redis CPU seconds per send) and Redis's share of the CPU
at each worker count. The same figures go into the JSON under ``figures``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pinrelay_ops.bench.plan import WORKER_PROCESSES
from pinrelay_ops.bench.report import Goal, Row, ScenarioResult
from pinrelay_ops.bench.stats import per_core, ratio

NAME: Final = "sends"
OURS: Final = "pinrelay"
NAIVE: Final = "naive"
P99_RATIO_MAX: Final = 1.2  # the issue: pinrelay's p99 enqueue->provider within 1.2x the baseline's
SENDS_RATIO_MIN: Final = 1.0
WORKER_CPU_RATIO_MAX: Final = 1.0
REDIS_CMDS_PER_SEND_MAX: Final = 15.0
REDIS_CPU_RATIO_MAX: Final = 1.5
RSS_MB_MAX: Final = 100.0


@dataclass(frozen=True, slots=True)
class Throughput:
    """One drain of a backlog: the row, and what the row's columns do not show."""

    key: str  # the variant: OURS or NAIVE
    procs: int  # worker processes (prefork children)
    row: Row
    sim_busy: float  # simulator CPU seconds per wall second in the window (1.0 = one core)
    redis_share: float | None  # Redis CPU / (Redis + workers' CPU) in the window
    halves: tuple[float, float]  # sends/s over the first and the second half of the sends

    @property
    def ceiling(self) -> float | None:
        """Sends/s one Redis core carries at this run's Redis CPU per send."""
        return per_core(self.row.cpu_redis_per_1k)


@dataclass(frozen=True, slots=True)
class Measured:
    """Everything the sends scenario measured, each list pinrelay's first."""

    main: list[Throughput]  # at WORKER_PROCESSES, the full batch
    steady: list[Row]  # paced at STEADY_RATE_PER_S
    documented: list[Row]  # paced at DOCUMENTED_RATE_PER_S
    scaled: list[Throughput]  # at each of plan.scale_procs, the smaller batch

    def rows(self) -> list[Row]:
        order = {OURS: 0, NAIVE: 1}
        scaled = sorted(self.scaled, key=lambda t: (order.get(t.key, 2), t.procs))
        return [*(t.row for t in self.main), *self.steady, *self.documented, *(t.row for t in scaled)]

    def main_of(self, key: str) -> Throughput:
        return next(t for t in self.main if t.key == key)

    def by_procs(self) -> list[Throughput]:
        """Every throughput run, each variant's ordered by worker processes (the main run included)."""
        order = {OURS: 0, NAIVE: 1}
        return sorted([*self.main, *self.scaled], key=lambda t: (order.get(t.key, 2), t.procs))


def _p99_ratio(rows: list[Row]) -> float | None:
    ours, naive = rows
    return ratio(ours.latency.p99_ms, naive.latency.p99_ms)


def add_goals(result: ScenarioResult, measured: Measured) -> None:
    """The issue's targets for sends, the information lines, the notes and the JSON figures."""
    ours, naive = measured.main_of(OURS), measured.main_of(NAIVE)
    o, n = ours.row, naive.row
    rate_steady, rate_documented = (rows[0].rate for rows in (measured.steady, measured.documented))
    result.goals += [
        Goal(NAME, "sends/s, pinrelay / naive Celery+POST", ratio(o.rate, n.rate),
             ">=", SENDS_RATIO_MIN, "x"),
        Goal(NAME, "worker CPU per send, pinrelay / naive",
             ratio(o.cpu_app_per_1k, n.cpu_app_per_1k), "<=", WORKER_CPU_RATIO_MAX, "x"),
        Goal(NAME, "Redis commands per send, pinrelay", o.redis_cmds_per_op,
             "<=", REDIS_CMDS_PER_SEND_MAX),
        Goal(NAME, "Redis CPU per send, pinrelay / naive",
             ratio(o.cpu_redis_per_1k, n.cpu_redis_per_1k), "<=", REDIS_CPU_RATIO_MAX, "x"),
        Goal(NAME, "Redis-core ceiling (1 / Redis CPU per send), pinrelay", ours.ceiling, "", 0, "/s"),
        Goal(NAME, "Redis-core ceiling (1 / Redis CPU per send), naive", naive.ceiling, "", 0, "/s"),
        Goal(NAME, f"p99 enqueue->provider @{rate_steady:g}/s, pinrelay / naive",
             _p99_ratio(measured.steady), "<=", P99_RATIO_MAX, "x"),
        Goal(NAME, f"p99 enqueue->provider @{rate_documented:g}/s, pinrelay / naive",
             _p99_ratio(measured.documented), "<=", P99_RATIO_MAX, "x"),
        Goal(NAME, "worker peak RSS per process", o.peak_rss_mb, "<=", RSS_MB_MAX, "MB"),
    ]
    for run in measured.by_procs():
        plural = "" if run.procs == 1 else "s"
        share = None if run.redis_share is None else run.redis_share * 100
        what = f"Redis share of Redis+worker CPU, {run.key} ({run.procs} proc{plural})"
        result.goals.append(Goal(NAME, what, share, "", 0, "%"))
    result.notes.append(
        f"simulator CPU during the throughput window: {ours.sim_busy:.0%} of one core (pinrelay), "
        f"{naive.sim_busy:.0%} (naive); a pure-Python server, near 100% it is the bottleneck"
    )
    result.notes.append(
        "sends/s over the first / second half of each main run (close = the batch is long enough): "
        f"pinrelay {ours.halves[0]:.0f} / {ours.halves[1]:.0f}, naive {naive.halves[0]:.0f} / "
        f"{naive.halves[1]:.0f}"
    )
    result.notes.append(
        f"sends-scale rows: {measured.scaled[0].row.ops if measured.scaled else 0} sends per run on a "
        f"fresh worker, the variants taking turns; the {WORKER_PROCESSES}-process point is the main run"
    )
    result.figures.update(_figures(measured))


def _figures(measured: Measured) -> dict[str, Any]:
    return {
        "redis_core_ceiling_sends_per_s": {t.key: t.ceiling for t in measured.main},
        "throughput_half_rates": {t.key: list(t.halves) for t in measured.main},
        "scale_out": [
            {
                "variant": t.key,
                "procs": t.procs,
                "sends": t.row.ops,
                "sends_per_s": t.row.rate,
                "worker_cpu_ms_per_send": t.row.cpu_app_per_1k,  # CPU s per 1,000 = ms per one
                "redis_cpu_ms_per_send": t.row.cpu_redis_per_1k,
                "redis_cpu_share": t.redis_share,
                "redis_core_ceiling_sends_per_s": t.ceiling,
                "redis_cmds_per_send": t.row.redis_cmds_per_op,
            }
            for t in measured.by_procs()
        ],
    }
