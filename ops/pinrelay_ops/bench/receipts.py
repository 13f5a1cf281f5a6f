"""Scenario 2, receipts: the receiver under load on loopback, signed (sha256) GETs and form POSTs.

pinrelay's receiver (granian, signature checking on; with two worker processes, and
with one for the scale-out table, each on a pool of its own) and two naive baselines
(:mod:`pinrelay_ops.bench.naive.receiver`: one LPUSH, no checks) under gunicorn sync
workers (the issue's baseline) and under granian (the server's share), all
with the same load generator, connections and pre-signed requests. After each
run the queued entries are counted: every ``{"status":"ok"}`` answer must be on
the result stream (or the list), so ``lost = acknowledged - queued`` must be 0;
the stream may hold a few more than that (requests in flight when the load
generator stopped were processed but never counted).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections import Counter
from pathlib import Path

from pinrelay_ops.bench.harness import SIGNATURE_METHOD, SIGNATURE_SECRET, Bench, profiled, start_process
from pinrelay_ops.bench.loadgen import LoadResult, run_load
from pinrelay_ops.bench.naive.receiver import list_key
from pinrelay_ops.bench.plan import CONNECTIONS, SERVER_WORKERS
from pinrelay_ops.bench.procs import ProcessMeter, Target
from pinrelay_ops.bench.receipt_pool import PoolItem, build_pool
from pinrelay_ops.bench.report import MIB, Goal, Row, ScenarioResult, redis_usage
from pinrelay_ops.bench.stats import per_thousand, ratio
from worker import constants as c
from worker.local.embedded import free_port
from worker.local.supervisor import Managed, Stack, wait_http

NAME = "receipts"
SETTLE_S = 0.5  # for requests in flight when the load generator stopped
UNSENT_MARGIN = 1_000  # pool items past the completed requests that may have been sent (in flight)
SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
NAIVE_TARGET = "pinrelay_ops.bench.naive.receiver:app_factory"
# Threads per worker of the naive granian baseline (granian's WSGI interface). Its app mostly
# waits on Redis (2 workers: 2 threads -> ~3.4k, 8 -> ~5k, 32 -> ~6.5-7.5k req/s).
NAIVE_GRANIAN_THREADS = 32
# No correlator runs in this scenario, so nothing drains the stream: the receiver under test
# gets a backlog cap (PINRELAY_WEBHOOK_BACKLOG_MAX) above anything one run can push (the pool is
# sized past the fastest receiver), and the stream is emptied after each run, so the scenario
# measures the receiver, not the cap (a faster machine once filled the default 100,000 in 8 s).
BACKLOG_HEADROOM = 2


def run(bench: Bench) -> ScenarioResult:
    result = ScenarioResult(NAME)
    backlog_max = BACKLOG_HEADROOM * bench.plan.receipt_pool
    settings = bench.settings(signature_secret=SIGNATURE_SECRET, signature_method=SIGNATURE_METHOD,
                              webhook_backlog_max=backlog_max)
    seconds = max(1, round(bench.plan.receipts_s))
    with bench.stack(NAME, settings) as stack:
        pool = _pool(stack, bench.plan.receipt_pool)
        ours = _ours(bench, stack, pool, seconds, result, SERVER_WORKERS)
        # What that run sent has its nonces recorded now (replays for the next one): the next takes
        # the pool's unsent tail, topped up with new receipts to the same size.
        rest = pool[ours.ops + UNSENT_MARGIN:]
        one = _ours(bench, stack, rest + _pool(stack, len(pool) - len(rest)), seconds, result, 1)
        gunicorn = None
        if importlib.util.find_spec("gunicorn") is not None:
            gunicorn = _naive(bench, stack, pool, seconds, "gunicorn")
        else:
            result.notes.append("gunicorn is not installed (pip install gunicorn): no gunicorn baseline")
        granian = _naive(bench, stack, pool, seconds, "granian")
    result.rows += [ours, one, *([gunicorn] if gunicorn else []), granian]
    result.goals += [
        Goal(NAME, "req/s, pinrelay / naive gunicorn-sync+LPUSH",
             ratio(ours.rate, gunicorn.rate if gunicorn else None), ">=", 2.5, "x"),
        Goal(NAME, "req/s, pinrelay / naive granian+LPUSH", ratio(ours.rate, granian.rate), ">=", 0.8, "x"),
        Goal(NAME, f"req/s, pinrelay {SERVER_WORKERS} workers / 1", ratio(ours.rate, one.rate), "", 0, "x"),
        Goal(NAME, f"p99 at {CONNECTIONS} connections", ours.latency.p99_ms, "<=", 10, "ms"),
        Goal(NAME, "errors", ours.errors, "<=", 0),
        Goal(NAME, "acknowledged but not queued", ours.lost, "<=", 0),
    ]
    result.notes.append(f"load generator: {bench.loadgen}, 1 thread, {CONNECTIONS} connections, "
                        f"{seconds}s per server, half GET half form POST")
    result.notes.append(f"no correlator runs here: the receiver's backlog cap is {backlog_max:,} "
                        "(PINRELAY_WEBHOOK_BACKLOG_MAX, above what one run can push) and the stream is "
                        "emptied after each run, so the figures are the receiver's, not the cap's")
    return result


def _pool(stack: Stack, count: int) -> list[PoolItem]:
    """``count`` receipts signed now (fresh timestamps), each with its own nonce."""
    return list(build_pool(count, stack.settings, time.time()))


def _ours(bench: Bench, stack: Stack, pool: list[PoolItem], seconds: int, result: ScenarioResult,
          workers: int) -> Row:
    url = stack.start_webhook(workers=workers)
    server = stack.processes["webhook"]
    stream = stack.settings.key_prefix + c.KEY_RECEIPTS_STREAM
    before = bench.redis.xlen(stream)
    assert server.process is not None
    meter = bench.meter(app=[Target(server.process.pid)])
    commands = bench.commands()
    label = f"{NAME}-pinrelay" if workers == SERVER_WORKERS else f"{NAME}-pinrelay-{workers}w"
    with meter, profiled(bench, result.profiles, label, server.process.pid):
        load = run_load(bench.loadgen, url, pool, seconds, CONNECTIONS)
    time.sleep(SETTLE_S)
    queued = bench.redis.xlen(stream) - before
    commands = bench.commands() - commands
    stack.processes.pop(server.name).stop()  # its CPUs back before the baselines run
    bench.redis.delete(stream)  # nothing correlates here: the next run starts on an empty stream
    return _row(f"pinrelay granian ({workers}w) sha256", load, meter, queued, commands)


def _naive(bench: Bench, stack: Stack, pool: list[PoolItem], seconds: int, server_kind: str) -> Row:
    port = free_port()
    if server_kind == "gunicorn":
        argv = [sys.executable, "-m", "gunicorn", "--workers", str(SERVER_WORKERS),
                "--worker-class", "sync", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                f"{NAIVE_TARGET}()"]
    else:
        argv = [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(SERVER_WORKERS), "--blocking-threads",
                str(NAIVE_GRANIAN_THREADS), "--log-level", "warning", "--no-access-log",
                "--working-dir", SOURCE_ROOT, NAIVE_TARGET]
    server: Managed = start_process(stack, f"naive-{server_kind}", argv)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", f"naive {server_kind}", server)
    key = list_key(stack.settings)
    before = bench.redis.llen(key)
    assert server.process is not None
    meter = bench.meter(app=[Target(server.process.pid)])
    commands = bench.commands()
    with meter:
        load = run_load(bench.loadgen, url, pool, seconds, CONNECTIONS)
    time.sleep(SETTLE_S)
    queued = bench.redis.llen(key) - before
    commands = bench.commands() - commands
    stack.processes.pop(server.name).stop()
    bench.redis.delete(key)
    return _row(f"naive {server_kind} ({SERVER_WORKERS}w) LPUSH", load, meter, queued, commands)


def _row(label: str, load: LoadResult, meter: ProcessMeter, queued: int, commands: Counter[str]) -> Row:
    return Row(
        NAME, label, "req/s", load.requests, load.seconds, load.rate, latency=load.latency,
        cpu_app_per_1k=per_thousand(meter.cpu_s("app"), load.requests),
        cpu_redis_per_1k=per_thousand(meter.cpu_s("redis"), load.requests),
        peak_rss_mb=meter.peak_rss_bytes("app") / MIB, errors=load.errors,
        **redis_usage(commands, load.requests),
        lost=max(0, load.ok - queued),
        note=f"{load.ok} acknowledged, {load.duplicate} duplicate, {queued} queued",
    )
