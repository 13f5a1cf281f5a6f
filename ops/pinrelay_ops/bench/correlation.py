"""Scenario 3, correlation: receipts/s settled end to end from a backlog on the result stream.

``plan.backlog`` submitted records and one ``delivered`` receipt each are
seeded first; then the correlator (a real ``pinrelay correlate`` process)
starts and drains the stream. The rate is the entries that left the stream
between the first and the last observation of its length, divided by the time
between them; Redis memory per tracked send is what the records take once they
are final and the stream is empty. The naive baseline
(:mod:`pinrelay_ops.bench.naive.correlator`) drains an identical backlog.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from pinrelay_ops.bench.harness import (
    SIGNATURE_METHOD,
    SIGNATURE_SECRET,
    Bench,
    profiled,
    start_process,
    wait_until,
)
from pinrelay_ops.bench.procs import Target
from pinrelay_ops.bench.report import MIB, Goal, Row, ScenarioResult, redis_usage
from pinrelay_ops.bench.seed import seed_receipts, seed_records, states
from pinrelay_ops.bench.stats import per_thousand, rate, ratio
from worker import constants as c
from worker.config import Settings
from worker.local.supervisor import Managed, Stack
from worker.states import State

NAME = "correlation"
POLL_S = 0.005  # stream-length polling: a batch of 500 takes ~0.1 s


def run(bench: Bench) -> ScenarioResult:
    result = ScenarioResult(NAME)
    signed = {"signature_secret": SIGNATURE_SECRET, "signature_method": SIGNATURE_METHOD}
    ours_settings, naive_settings = bench.settings(**signed), bench.settings(**signed)
    with bench.stack(NAME, ours_settings) as stack:
        memory_before = bench.used_memory()
        ids = _seed(bench, ours_settings)
        ours = _drain(bench, stack, ours_settings, ids, "pinrelay correlator",
                      stack.start_correlator, result)
        ours.redis_bytes_per_op = (bench.used_memory() - memory_before) / len(ids)
        ours.note = "B/op: Redis memory per tracked send after correlation"
        try:
            naive_ids = _seed(bench, naive_settings)
            argv = [sys.executable, "-m", "pinrelay_ops.bench.naive.correlator", str(len(naive_ids))]
            naive = _drain(bench, stack, naive_settings, naive_ids, "naive correlator",
                           lambda: start_process(stack, "naive-correlator", argv,
                                                 PINRELAY_KEY_PREFIX=naive_settings.key_prefix),
                           result)
        finally:
            bench.drop(naive_settings)
    result.rows += [ours, naive]
    result.goals += [
        Goal(NAME, "receipts/s correlated", ours.rate, ">=", 5000, "/s"),
        Goal(NAME, "receipts/s, pinrelay / naive correlator", ratio(ours.rate, naive.rate), "", 0, "x"),
        Goal(NAME, "Redis memory per tracked send", ours.redis_bytes_per_op, "<=", 1024, "B"),
    ]
    return result


def _seed(bench: Bench, settings: Settings) -> list[str]:
    ids = seed_records(bench.redis, settings, bench.plan.backlog)
    seed_receipts(bench.redis, settings, len(ids))
    return ids


def _drain(bench: Bench, stack: Stack, settings: Settings, ids: list[str], label: str,
           start: Callable[[], Managed], result: ScenarioResult) -> Row:
    stream = settings.key_prefix + c.KEY_RECEIPTS_STREAM
    total = bench.redis.xlen(stream)
    process = start()
    assert process.process is not None
    meter = bench.meter(app=[Target(process.process.pid)])
    key = "pinrelay" if label.startswith("pinrelay") else "naive"
    with meter:
        wait_until(lambda: bench.redis.xlen(stream) < total, bench.plan.settle_timeout_s,
                   f"the {label} to start", alive=lambda: [process], poll_s=POLL_S)
        first_at, first_len, commands = time.time(), bench.redis.xlen(stream), bench.commands()
        with profiled(bench, result.profiles, f"{NAME}-{key}", process.process.pid):
            last_at = wait_until(lambda: bench.redis.xlen(stream) == 0, bench.plan.settle_timeout_s,
                                 f"the {label} to drain {total} receipts", alive=lambda: [process],
                                 poll_s=POLL_S)
        commands = bench.commands() - commands
    found = states(bench.redis, settings, ids)
    delivered = sum(1 for s in found if s == State.DELIVERED.value)
    window = last_at - first_at
    process.stop()
    return Row(
        NAME, label, "receipts/s", len(ids), window, rate(first_len, window),
        cpu_app_per_1k=per_thousand(meter.cpu_between("app", first_at, last_at), first_len),
        cpu_redis_per_1k=per_thousand(meter.cpu_between("redis", first_at, last_at), first_len),
        peak_rss_mb=meter.peak_rss_bytes("app") / MIB, lost=len(ids) - delivered,
        **redis_usage(commands, first_len),
    )
