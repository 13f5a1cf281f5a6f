"""Scenario 4, enqueue: ``send_pin`` one at a time from one process, and ``send_pins`` in bulk.

Against the naive baselines of the issue: a plain ``apply_async`` per PIN, and
a loop of ``apply_async`` in one pipelined batch (kombu's ``Producer.batch``).
No worker consumes; the queue is emptied after each phase. CPU is this
process's own (the producer) plus redis-server's.
"""

from __future__ import annotations

import os
import time
from collections import Counter

from pinrelay_ops.bench.harness import Bench, profiled
from pinrelay_ops.bench.procs import ProcessMeter, Target
from pinrelay_ops.bench.report import MIB, Goal, Row, ScenarioResult, redis_usage
from pinrelay_ops.bench.sending.variants import NaiveSends, OurSends, SendVariant
from pinrelay_ops.bench.stats import NO_LATENCY, Latency, per_thousand, rate, ratio
from worker.records.creation import CREATE_CHUNK

NAME = "enqueue"
_SELF = Target(os.getpid(), tree=False, high_water=False)  # RSS now, not since start-up


def run(bench: Bench) -> ScenarioResult:
    result = ScenarioResult(NAME)
    with bench.stack(NAME, bench.settings()) as stack:
        ours, naive = OurSends(stack), NaiveSends(stack)
        try:
            rows = {}
            for variant in (ours, naive):
                rows[variant.key, "one"] = _one_by_one(bench, variant, result)
                bench.drop(stack.settings)
                rows[variant.key, "bulk"] = _bulk(bench, variant, result)
                bench.drop(stack.settings)
        finally:
            ours.close()
            naive.close()
    result.rows += [rows["pinrelay", "one"], rows["naive", "one"], rows["pinrelay", "bulk"],
                    rows["naive", "bulk"]]
    one, bulk = rows["pinrelay", "one"].rate, rows["pinrelay", "bulk"].rate
    per_app, per_redis = (_per_cpu_second(rows["pinrelay", "bulk"].cpu_app_per_1k),
                          _per_cpu_second(rows["pinrelay", "bulk"].cpu_redis_per_1k))
    result.goals += [
        Goal(NAME, "send_pin one by one, one process", one, ">=", 3000, "/s"),
        Goal(NAME, "send_pin / plain apply_async", ratio(one, rows["naive", "one"].rate), ">=", 1.0, "x"),
        Goal(NAME, "send_pins bulk", bulk, ">=", 20000, "/s"),
        Goal(NAME, "send_pins / apply_async in one batch", ratio(bulk, rows["naive", "bulk"].rate),
             "", 0, "x"),
        # what one core of each side could do alone: the lower one bounds the bulk rate
        Goal(NAME, "send_pins per producer CPU-second", per_app, "", 0, "/s"),
        Goal(NAME, "send_pins per Redis CPU-second", per_redis, "", 0, "/s"),
    ]
    result.notes.append(
        f"send_pins of {bench.plan.bulk}: {CREATE_CHUNK} sends per create.lua call (records, PIN keys, "
        "idempotency keys, limits and task messages in one atomic step per chunk), the calls "
        "streamed on one connection; more than one chunk has its limits counted first (one "
        "check call per chunk)"
    )
    return result


def _per_cpu_second(cpu_per_1k: float | None) -> float | None:
    """Operations one CPU-second buys at ``cpu_per_1k`` CPU seconds per 1,000 operations."""
    return 1000 / cpu_per_1k if cpu_per_1k else None


def _one_by_one(bench: Bench, variant: SendVariant, result: ScenarioResult) -> Row:
    latencies: list[float] = []
    meter = bench.meter(app=[_SELF])
    commands = bench.commands()
    with meter, profiled(bench, result.profiles, f"{NAME}-one-{variant.key}", os.getpid()):
        started = time.perf_counter()
        deadline = started + bench.plan.enqueue_s
        index = 0
        while (now := time.perf_counter()) < deadline:
            variant.enqueue_one(index)
            latencies.append(time.perf_counter() - now)
            index += 1
        elapsed = time.perf_counter() - started
    label = "pinrelay send_pin" if variant.tracks else "naive apply_async"
    commands = bench.commands() - commands
    return _row(NAME, label, index, elapsed, meter, Latency.of_seconds(latencies), bench, variant,
                commands)


def _bulk(bench: Bench, variant: SendVariant, result: ScenarioResult) -> Row:
    count = bench.plan.bulk
    meter = bench.meter(app=[_SELF])
    commands = bench.commands()
    with meter, profiled(bench, result.profiles, f"{NAME}-bulk-{variant.key}", os.getpid()):
        started = time.perf_counter()
        variant.enqueue_bulk(count, batch=count)
        elapsed = time.perf_counter() - started
    commands = bench.commands() - commands
    label = "pinrelay send_pins" if variant.tracks else "naive apply_async, 1 batch"
    return _row(f"{NAME}-bulk", label, count, elapsed, meter, NO_LATENCY, bench, variant, commands)


def _row(scenario: str, label: str, count: int, elapsed: float, meter: ProcessMeter, latency: Latency,
         bench: Bench, variant: SendVariant, commands: Counter[str]) -> Row:
    queued = bench.redis.llen(variant.queue)
    return Row(
        scenario, label, "enqueues/s", count, elapsed, rate(count, elapsed), latency=latency,
        cpu_app_per_1k=per_thousand(meter.cpu_s("app"), count),
        cpu_redis_per_1k=per_thousand(meter.cpu_s("redis"), count),
        peak_rss_mb=meter.peak_rss_bytes("app") / MIB, lost=max(0, count - queued),
        **redis_usage(commands, count),
    )
