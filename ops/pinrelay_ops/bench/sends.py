"""Scenario 1, sends: sustained sends/s through the workers, how it scales, and enqueue->provider latency.

For pinrelay and for the naive baseline (:mod:`pinrelay_ops.bench.naive.sends`), in
the same run, against one simulator (zero added latency, receipts off):

* throughput: ``plan.sends`` PINs are enqueued in bulk *before* the workers
  (``WORKER_PROCESSES`` prefork children) start, then the workers drain them;
  the rate is taken from the simulator's arrival times, first to last provider
  call, and CPU (workers, Redis) over exactly that window;
* latency: PINs enqueued one by one at a steady 200/s, then at 30/s (the
  provider's documented per-key limit), pinrelay and the baseline taking turns
  in slices of ``STEADY_SLICE_S`` (both workers up), so that load from
  elsewhere on the machine hits both alike; the latency of each is its arrival
  at the simulator minus the moment the caller began enqueueing it;
* scale-out: the throughput measurement again, ``plan.scale_sends`` PINs with
  each of ``plan.scale_procs`` worker processes (the main run is the 2-process
  point), the variants taking turns; with Redis's share of the CPU, which says
  how close to its one core Redis gets as workers are added.

pinrelay runs with every feature on: records, the claim, the rate-limit check
(a bucket too large to ever wait), abuse checks, idempotency keys and JSON logs.
The goals and derived figures are in :mod:`pinrelay_ops.bench.sending.goals`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from pinrelay_ops.bench.harness import Bench, LateDoubles, SimControl, profiled, wait_until
from pinrelay_ops.bench.plan import (
    DOCUMENTED_RATE_PER_S,
    STEADY_RATE_PER_S,
    STEADY_SLICE_S,
    WORKER_PROCESSES,
)
from pinrelay_ops.bench.procs import Target
from pinrelay_ops.bench.report import MIB, Row, ScenarioResult, redis_usage
from pinrelay_ops.bench.sending.goals import Measured, Throughput, add_goals
from pinrelay_ops.bench.sending.variants import NaiveSends, OurSends, SendVariant
from pinrelay_ops.bench.stats import Latency, half_rates, per_thousand, rate, share
from worker.local.supervisor import Managed, Stack

NAME = "sends"
SCALE = f"{NAME}-scale"
SLOW_STOP_S = 10.0  # a warm shutdown of an idle worker takes 2-4 s on 2 busy cores


def procs_label(label: str, procs: int) -> str:
    return f"{label} ({procs} proc{'' if procs == 1 else 's'})"


def run(bench: Bench) -> ScenarioResult:
    result = ScenarioResult(NAME)
    with bench.stack(NAME, bench.settings()) as stack:
        sim = SimControl(stack.start_sim("--latency-ms", "0"))
        audit = LateDoubles(sim)
        variants: list[SendVariant] = [OurSends(stack), NaiveSends(stack)]
        phases: dict[str, dict[str, float]] = result.figures.setdefault("phases", {})
        try:
            with _timed(phases, "throughput"):
                main = [_throughput(bench, stack, audit, v, result, bench.plan.sends, WORKER_PROCESSES)
                        for v in variants]
            with _timed(phases, f"steady@{STEADY_RATE_PER_S:g}/s"):
                steady = _steady(bench, audit, variants, STEADY_RATE_PER_S, bench.plan.steady_s)
            with _timed(phases, f"steady@{DOCUMENTED_RATE_PER_S:g}/s"):
                documented = _steady(bench, audit, variants, DOCUMENTED_RATE_PER_S, bench.plan.documented_s)
            with _timed(phases, "scale-out"):
                scaled = _scale_out(bench, stack, audit, variants, result)
            audit.settle()
        finally:
            for variant in variants:
                variant.close()
            sim.close()
    measured = Measured(main, steady, documented, scaled)
    result.rows += measured.rows()
    add_goals(result, measured)
    if audit.charged:
        result.notes.append(f"{audit.charged} PINs accepted again after their phase was read (in err)")
    result.notes.append("per phase, wall-clock seconds (1-minute load average at its end): "
                        + ", ".join(f"{k} {v['seconds']:g} ({v['load']:.1f})" for k, v in phases.items()))
    return result


def _throughput(bench: Bench, stack: Stack, audit: LateDoubles, variant: SendVariant,
                result: ScenarioResult, count: int, procs: int,
                scenario: str = NAME, profile: bool = True) -> Throughput:
    """Enqueue ``count``, start ``procs`` worker processes, time the drain (the worker stays up)."""
    sim = audit.sim
    memory_before = bench.used_memory()
    calls_before = sim.request_count()  # the simulator counts every variant's calls
    refs = variant.enqueue_bulk(count)
    commands = bench.commands()
    worker = variant.start_worker(procs)
    assert worker.process is not None and stack.processes["sim"].process is not None
    meter = bench.meter(app=[Target(worker.process.pid)], sim=[Target(stack.processes["sim"].process.pid)])
    with meter:
        wait_until(lambda: bench.redis.llen(variant.queue) < count, bench.plan.settle_timeout_s,
                   f"{variant.label} to start consuming", alive=lambda: [worker])
        with profiled(bench, result.profiles, f"{NAME}-{variant.key}",
                      worker.process.pid if profile else None):
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
    app_cpu = meter.cpu_between("app", first, last)
    redis_cpu = meter.cpu_between("redis", first, last)
    row = Row(
        scenario, procs_label(variant.label, procs), "sends/s", len(times), window,
        rate(gaps, window),
        cpu_app_per_1k=per_thousand(app_cpu, gaps),
        cpu_redis_per_1k=per_thousand(redis_cpu, gaps),
        peak_rss_mb=meter.peak_rss_bytes("app") / MIB,
        redis_bytes_per_op=(bench.used_memory() - memory_before) / count if variant.tracks else None,
        **redis_usage(commands, count),
        lost=lost, errors=errors,
        note="B/op: after submit, before receipts" if variant.tracks else "",
    )
    audit.record(row, refs, calls)
    sim_busy = meter.cpu_between("sim", first, last) / window if window > 0 else 0.0
    return Throughput(variant.key, procs, row, sim_busy, share(redis_cpu, app_cpu), half_rates(times))


def _scale_out(bench: Bench, stack: Stack, audit: LateDoubles, variants: list[SendVariant],
               result: ScenarioResult) -> list[Throughput]:
    """Each of ``plan.scale_procs`` worker processes, each variant in turn, on a fresh worker.

    Only one variant's worker runs during a measurement, so the other's idle
    polling of Redis is not charged to it.
    """
    measured = []
    stops: list[tuple[str, float]] = []
    for procs in bench.plan.scale_procs:
        for variant in variants:
            stops += _stop_workers(variants)
            audit.reset()  # keeps the simulator's request log (fetched after each run) short
            measured.append(_throughput(bench, stack, audit, variant, result, bench.plan.scale_sends,
                                        procs, scenario=SCALE, profile=False))
    stops += _stop_workers(variants)
    slow = [f"{label} {seconds:.0f}s" for label, seconds in stops if seconds > SLOW_STOP_S]
    if slow:
        result.notes.append(f"slow worker shutdowns (their work already accounted for): {', '.join(slow)}")
    return measured


def _stop_workers(variants: list[SendVariant]) -> list[tuple[str, float]]:
    """Stop every variant's worker side by side (a warm shutdown takes seconds); (label, seconds) each."""
    with ThreadPoolExecutor(max_workers=len(variants)) as pool:
        seconds = list(pool.map(lambda v: v.stop_worker(), variants))
    return [(v.label, took) for v, took in zip(variants, seconds, strict=True)]


def _steady(bench: Bench, audit: LateDoubles, variants: list[SendVariant], per_s: float,
            seconds: float) -> list[Row]:
    """Both workers up; the variants take turns, a slice of paced sends each, so load drift hits both.

    ``per_s`` sends per second for ``seconds`` per variant. Each slice is
    drained before the next begins, so one variant's backlog never delays the other.
    """
    audit.reset()
    sim = audit.sim
    per_slice = max(1, int(per_s * STEADY_SLICE_S))
    slices = max(1, round(seconds / STEADY_SLICE_S))
    started_at: list[dict[str, float]] = [{} for _ in variants]
    for turn in range(slices * len(variants)):
        which = turn % len(variants)
        start = time.monotonic()
        for i in range(per_slice):
            _sleep_until(start + i / per_s)
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
            f"{NAME}@{per_s:g}/s", variant.label, "sends/s", len(sent), slices * STEADY_SLICE_S,
            per_s, latency=Latency.of_seconds(latencies),
            lost=variant.lost(list(sent), arrived), errors=errors,
            note=f"latency: enqueue call -> provider receives it; {slices} slices of "
                 f"{STEADY_SLICE_S:g}s, alternating",
        ))
        audit.record(rows[-1], sent, calls)
    return rows


def _wait_sent(bench: Bench, sim: SimControl, variant: SendVariant, count: int,
               watch: list[Managed]) -> None:
    """Until the queue is drained and the simulator saw ``count`` calls (stats polled only then)."""
    def queue_empty() -> bool:
        return bool(bench.redis.llen(variant.queue) == 0)

    wait_until(queue_empty, bench.plan.settle_timeout_s, f"{variant.label} to drain its queue",
               alive=lambda: watch)
    wait_until(lambda: sim.request_count() >= count, bench.plan.settle_timeout_s,
               f"{count} provider calls from {variant.label}", alive=lambda: watch, poll_s=0.02)


@contextmanager
def _timed(sink: dict[str, dict[str, float]], phase: str) -> Iterator[None]:
    """Seconds and closing load average of ``phase`` into ``sink`` (the JSON's ``phases``)."""
    began = time.monotonic()
    try:
        yield
    finally:
        sink[phase] = {"seconds": round(time.monotonic() - began, 1), "load": os.getloadavg()[0]}


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)
