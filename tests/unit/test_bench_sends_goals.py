"""The sends scenario's targets and derived figures, from made-up rows (no processes, no Redis).

What is checked is the arithmetic and the honesty of the output: every ratio
target is printed met or missed, information lines say "info", the Redis-core
ceiling is 1 / Redis CPU seconds per send, and missed targets never make a
scenario fail (only lost or duplicated work does).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pinrelay_ops.bench.harness import LateDoubles, ProviderCall, SimControl
from pinrelay_ops.bench.report import Goal, Row, ScenarioResult, goal_line, print_report, write_json
from pinrelay_ops.bench.sending.goals import Measured, Throughput, add_goals
from pinrelay_ops.bench.stats import Latency, half_rates, per_core, share


def throughput(key: str, procs: int, rate: float, cpu: float, redis: float, cmds: float) -> Throughput:
    label = "pinrelay" if key == "pinrelay" else "naive Celery+POST"
    row = Row("sends", f"{label} ({procs} procs)", "sends/s", 1000, 1000 / rate, rate, cpu_app_per_1k=cpu,
              cpu_redis_per_1k=redis, peak_rss_mb=60.0, redis_cmds_per_op=cmds)
    return Throughput(key, procs, row, 0.1, share(redis, cpu), (rate, rate))


def steady(per_s: float, p99_ours: float, p99_naive: float) -> list[Row]:
    return [
        Row(f"sends@{per_s:g}/s", variant, "sends/s", 100, 1.0, per_s, latency=Latency(1.0, p99, 100))
        for variant, p99 in (("pinrelay", p99_ours), ("naive Celery+POST", p99_naive))
    ]


def measured() -> Measured:
    return Measured(
        main=[throughput("pinrelay", 2, 300, 4.0, 0.8, 38.0), throughput("naive", 2, 400, 3.0, 0.25, 9.0)],
        steady=steady(200, 24.0, 10.0),
        documented=steady(30, 11.0, 10.0),
        scaled=[throughput("naive", 4, 500, 2.5, 0.2, 9.0), throughput("pinrelay", 1, 150, 4.5, 0.9, 38.0),
                throughput("pinrelay", 4, 320, 3.8, 0.7, 37.0), throughput("naive", 1, 200, 3.5, 0.3, 9.0)],
    )


def goals_by_what(result: ScenarioResult) -> dict[str, Goal]:
    return {g.what: g for g in result.goals}


def check(goal: Goal, value: float, op: str, target: float, met: bool | None) -> None:
    assert goal.value == pytest.approx(value)
    assert (goal.op, goal.target, goal.met) == (op, target, met)


def test_issue_targets_are_checked_with_the_issue_thresholds() -> None:
    result = ScenarioResult("sends")
    add_goals(result, measured())
    goals = goals_by_what(result)
    check(goals["sends/s, pinrelay / naive Celery+POST"], 0.75, ">=", 1.0, False)
    check(goals["worker CPU per send, pinrelay / naive"], 4 / 3, "<=", 1.0, False)
    check(goals["Redis commands per send, pinrelay"], 38.0, "<=", 15.0, False)
    check(goals["Redis CPU per send, pinrelay / naive"], 3.2, "<=", 1.5, False)
    check(goals["p99 enqueue->provider @200/s, pinrelay / naive"], 2.4, "<=", 1.2, False)
    check(goals["p99 enqueue->provider @30/s, pinrelay / naive"], 1.1, "<=", 1.2, True)
    assert goals["worker peak RSS per process"].met is True


def test_redis_core_ceiling_is_one_over_redis_cpu_per_send() -> None:
    """0.8 ms of Redis CPU per send: one Redis core carries 1,250 sends/s; info only."""
    result = ScenarioResult("sends")
    add_goals(result, measured())
    goals = goals_by_what(result)
    check(goals["Redis-core ceiling (1 / Redis CPU per send), pinrelay"], 1250.0, "", 0, None)
    assert goals["Redis-core ceiling (1 / Redis CPU per send), naive"].value == pytest.approx(4000.0)
    assert result.figures["redis_core_ceiling_sends_per_s"] == {
        "pinrelay": pytest.approx(1250.0), "naive": pytest.approx(4000.0)}


def test_scale_out_rows_and_redis_share_per_worker_count() -> None:
    """Rows ordered pinrelay then naive, by processes; the main run is the 2-process point."""
    m = measured()
    assert [r.variant for r in m.rows()[-4:]] == [
        "pinrelay (1 procs)", "pinrelay (4 procs)",
        "naive Celery+POST (1 procs)", "naive Celery+POST (4 procs)",
    ]
    result = ScenarioResult("sends")
    add_goals(result, m)
    shares = {g.what: g.value for g in result.goals if g.what.startswith("Redis share")}
    assert list(shares) == [f"Redis share of Redis+worker CPU, {key} ({n} proc{'' if n == 1 else 's'})"
                            for key in ("pinrelay", "naive") for n in (1, 2, 4)]
    assert shares["Redis share of Redis+worker CPU, pinrelay (2 procs)"] == pytest.approx(100 * 0.8 / 4.8)
    scale = result.figures["scale_out"]
    assert [(s["variant"], s["procs"]) for s in scale] == [
        ("pinrelay", 1), ("pinrelay", 2), ("pinrelay", 4), ("naive", 1), ("naive", 2), ("naive", 4),
    ]
    assert scale[1]["redis_core_ceiling_sends_per_s"] == pytest.approx(1250.0)


def test_every_ratio_target_prints_met_or_missed_and_info_lines_say_info() -> None:
    result = ScenarioResult("sends")
    add_goals(result, measured())
    for goal in result.goals:
        line = goal_line(goal)
        if goal.op:
            assert line.endswith(("met", "MISSED")), line
        else:
            assert line.endswith("info"), line


def test_missed_targets_never_fail_the_scenario_lost_work_does(tmp_path: Path) -> None:
    """The bench's exit status follows ``ok``: missed targets keep it True, a lost send does not."""
    result = ScenarioResult("sends")
    m = measured()
    result.rows += m.rows()
    add_goals(result, m)
    assert any(g.met is False for g in result.goals)
    assert result.ok
    out = tmp_path / "bench.json"
    write_json(str(out), [result], {})
    data = json.loads(out.read_text())
    assert data["ok"] is True
    assert data["scenarios"]["sends"]["figures"]["scale_out"]
    buffer = io.StringIO()
    print_report([result], buffer)
    assert "MISSED" in buffer.getvalue()
    result.rows[0].lost = 1
    assert not result.ok
    result.rows[0].lost, result.rows[1].errors = 0, 1  # a refused or doubled provider call
    assert not result.ok


def test_missing_figures_are_not_applicable_rather_than_met() -> None:
    """A baseline without a CPU figure gives no ratio: printed n/a, neither met nor missed."""
    m = measured()
    m.main[1].row.cpu_app_per_1k = None
    result = ScenarioResult("sends")
    add_goals(result, m)
    goal = next(g for g in result.goals if g.what == "worker CPU per send, pinrelay / naive")
    assert goal.met is None and goal_line(goal).endswith("n/a")


def test_derived_arithmetic() -> None:
    assert share(1.0, 3.0) == pytest.approx(0.25)
    assert share(0.0, 0.0) is None
    assert per_core(0.5) == pytest.approx(2000.0)
    assert per_core(None) is None and per_core(0.0) is None
    assert half_rates([0.0, 1.0, 2.0, 4.0, 6.0]) == pytest.approx((1.0, 0.5))
    assert half_rates([1.0, 2.0]) == (0.0, 0.0)


class FakeSim(SimControl):
    """The simulator's exact duplicate counters, set by the test."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9")  # never contacted
        self.counts: dict[str, int] = {}
        self.resets = 0

    def doubled(self) -> dict[str, int]:
        return {ref: n - 1 for ref, n in self.counts.items() if n > 1}

    def reset(self) -> None:
        self.resets += 1
        self.counts.clear()


def test_a_pin_accepted_again_after_its_phase_was_read_is_charged_to_that_row() -> None:
    """The row saw one acceptance each; a late second acceptance of "b" becomes an error of its row only."""
    sim = FakeSim()
    audit = LateDoubles(sim)
    ours, naive = (Row("sends@30/s", v, "sends/s", 2, 1.0, 30.0) for v in ("pinrelay", "naive"))
    calls = {ref: ProviderCall(0.0, 1, 1) for ref in ("a", "b", "n1")}
    audit.record(ours, ["a", "b"], calls)
    audit.record(naive, ["n1"], calls)
    sim.counts = {"a": 1, "b": 2, "n1": 1}
    audit.reset()
    assert (ours.errors, naive.errors, audit.charged, sim.resets) == (1, 0, 1, 1)


def test_a_double_the_row_already_counted_is_not_charged_twice() -> None:
    sim = FakeSim()
    audit = LateDoubles(sim)
    row = Row("sends", "pinrelay (2 procs)", "sends/s", 1, 1.0, 1.0, errors=1)
    audit.record(row, ["a"], {"a": ProviderCall(0.0, 2, 2)})
    sim.counts = {"a": 2}
    assert audit.settle() == 0 and row.errors == 1
    assert audit.settle() == 0  # settled rows are not checked again
