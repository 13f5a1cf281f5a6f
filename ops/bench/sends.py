"""Scenario 1, sends: sustained sends/s through the workers, and enqueue->provider latency.

For pinrelay and for the naive baseline (:mod:`ops.bench.naive.sends`), in
the same run, against one simulator (zero added latency, receipts off):

* throughput: ``plan.sends`` PINs are enqueued in bulk *before* the workers
  start, then the workers drain them; the rate is taken from the simulator's
  arrival times, first to last provider call, and CPU over exactly that window;
* latency: PINs enqueued one by one at a steady 200/s, pinrelay and the
  baseline taking turns in slices of ``STEADY_SLICE_S`` (both workers up), so
  that load from elsewhere on the machine hits both alike; the latency of each
  is its arrival at the simulator minus the moment the caller began enqueueing it.

pinrelay runs with every feature on: records, the claim, the rate-limit check
(a bucket too large to ever wait), abuse checks, idempotency keys and JSON logs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ops.bench.harness import Bench, SimControl, profiled, wait_until
from ops.bench.plan import STEADY_RATE_PER_S, STEADY_SLICE_S, WORKER_PROCESSES
from ops.bench.procs import Target
from ops.bench.report import MIB, Goal, Row, ScenarioResult, redis_usage
from ops.bench.sends_variants import NaiveSends, OurSends, SendVariant
from ops.bench.stats import Latency, per_thousand, rate, ratio
from worker.local.supervisor import Managed, Stack

NAME = "sends"


@dataclass(frozen=True, slots=True)
class Throughput:
    row: Row
    sim_busy: float  # simulator CPU seconds per wall second in the window (1.0 = one core)


def run(bench: Bench) -> ScenarioResult:
    result = ScenarioResult(NAME)
    with bench.stack(NAME, bench.settings()) as stack:
        sim = SimControl(stack.start_sim("--latency-ms", "0"))
        variants: list[SendVariant] = [OurSends(stack), NaiveSends(stack)]
        try:
            ours, naive = (_throughput(bench, stack, sim, v, result) for v in variants)
            ours_steady, naive_steady = _steady(bench, sim, variants)
        finally:
            for variant in variants:
                variant.close()
            sim.close()
    result.rows += [ours.row, naive.row, ours_steady, naive_steady]
    result.goals += [
        Goal(NAME, "sends/s, pinrelay / naive Celery+POST", ratio(ours.row.rate, naive.row.rate),
             ">=", 1.0, "x"),
        Goal(NAME, "p99 enqueue->provider @200/s, pinrelay / naive",
             ratio(ours_steady.latency.p99_ms, naive_steady.latency.p99_ms), "<=", 2.0, "x"),
        Goal(NAME, "worker peak RSS per process", ours.row.peak_rss_mb, "<=", 100, "MB"),
    ]  # fmt: skip
    result.notes.append(
        f"simulator CPU during the throughput window: {ours.sim_busy:.0%} of one core (pinrelay), "
        f"{naive.sim_busy:.0%} (naive); a pure-Python server, near 100% it is the bottleneck"
    )
    return result


def _throughput(bench: Bench, stack: Stack, sim: SimControl, variant: SendVariant,
                result: ScenarioResult) -> Throughput:  # fmt: skip
    count = bench.plan.sends
    memory_before = bench.used_memory()
    calls_before = sim.request_count()  # the simulator counts every variant's calls
    refs = variant.enqueue_bulk(count)
    commands = bench.commands()
    worker = variant.start_worker()
    assert worker.process is not None and stack.processes["sim"].process is not None
    meter = bench.meter(app=[Target(worker.process.pid)], sim=[Target(stack.processes["sim"].process.pid)])
    with meter:
        wait_until(lambda: bench.redis.llen(variant.queue) < count, bench.plan.settle_timeout_s,
                   f"{variant.label} to start consuming", alive=lambda: [worker])  # fmt: skip
        with profiled(bench, result.profiles, f"{NAME}-{variant.key}", worker.process.pid):
            _wait_sent(bench, sim, variant, calls_before + count, [worker])
    commands = bench.commands() - commands
    calls = sim.calls()
    arrived = {ref: call.arrived for ref, call in calls.items()}
    errors = sum(calls[r].errors for r in refs if r in calls)
    times = sorted(arrived[r] for r in refs if r in arrived)
    first, last = (times[0], times[-1]) if times else (0.0, 0.0)
    window = last - first
    lost = variant.lost(refs, arrived)
    gaps = max(len(times) - 1, 0)  # provider calls after the first, inside the window
    row = Row(
        NAME, f"{variant.label} ({WORKER_PROCESSES} procs)", "sends/s", len(times), window,
        rate(gaps, window),
        cpu_app_per_1k=per_thousand(meter.cpu_between("app", first, last), gaps),
        cpu_redis_per_1k=per_thousand(meter.cpu_between("redis", first, last), gaps),
        peak_rss_mb=meter.peak_rss_bytes("app") / MIB,
        redis_bytes_per_op=(bench.used_memory() - memory_before) / count if variant.tracks else None,
        **redis_usage(commands, count),
        lost=lost, errors=errors,
        note="B/op: after submit, before receipts" if variant.tracks else "",
    )  # fmt: skip
    sim_busy = meter.cpu_between("sim", first, last) / window if window > 0 else 0.0
    return Throughput(row, sim_busy)


def _steady(bench: Bench, sim: SimControl, variants: list[SendVariant]) -> list[Row]:
    """Both workers up; the variants take turns, a slice of paced sends each, so load drift hits both.

    Each slice is drained before the next begins, so one variant's backlog never delays the other.
    """
    sim.reset()
    per_slice = max(1, int(STEADY_RATE_PER_S * STEADY_SLICE_S))
    slices = max(1, round(bench.plan.steady_s / STEADY_SLICE_S))
    started_at: list[dict[str, float]] = [{} for _ in variants]
    for turn in range(slices * len(variants)):
        which = turn % len(variants)
        start = time.monotonic()
        for i in range(per_slice):
            _sleep_until(start + i / STEADY_RATE_PER_S)
            began = time.time()
            started_at[which][variants[which].enqueue_one(turn * per_slice + i)] = began
        # the next slice starts on an idle system: no backlog of one variant slows the other
        _wait_sent(bench, sim, variants[which], (turn + 1) * per_slice, [])
    calls = sim.calls()
    arrived = {ref: call.arrived for ref, call in calls.items()}
    rows = []
    for variant, sent in zip(variants, started_at, strict=True):
        latencies = [arrived[ref] - t for ref, t in sent.items() if ref in arrived]
        errors = sum(calls[r].errors for r in sent if r in calls)
        rows.append(Row(
            f"{NAME}@200/s", variant.label, "sends/s", len(sent), slices * STEADY_SLICE_S,
            STEADY_RATE_PER_S, latency=Latency.of_seconds(latencies),
            lost=variant.lost(list(sent), arrived), errors=errors,
            note=f"latency: enqueue call -> provider receives it; {slices} slices of "
                 f"{STEADY_SLICE_S:g}s, alternating",
        ))  # fmt: skip
    return rows


def _wait_sent(bench: Bench, sim: SimControl, variant: SendVariant, count: int,
               watch: list[Managed]) -> None:  # fmt: skip
    """Until the queue is drained and the simulator saw ``count`` calls (stats polled only then)."""
    def queue_empty() -> bool:
        return bool(bench.redis.llen(variant.queue) == 0)

    wait_until(queue_empty, bench.plan.settle_timeout_s, f"{variant.label} to drain its queue",
               alive=lambda: watch)  # fmt: skip
    wait_until(lambda: sim.request_count() >= count, bench.plan.settle_timeout_s,
               f"{count} provider calls from {variant.label}", alive=lambda: watch, poll_s=0.02)  # fmt: skip


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)
