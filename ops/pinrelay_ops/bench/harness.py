"""What every scenario shares: the private Redis, fresh settings, stacks, the simulator's API.

One :class:`Bench` lives for one ``pinrelay bench`` run. Its Redis is a
private ``redis-server`` (AOF on, as in production) that the run starts and
stops; the shared Redis on 6379 is never touched. Every scenario and every
baseline works under its own key prefix and queue, and each stack it starts is
stopped when its ``with`` block ends, whatever happened inside.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import redis
import requests

from pinrelay_ops.bench.plan import WORKER_PROCESSES, Plan
from pinrelay_ops.bench.procs import ProcessMeter, Target
from pinrelay_ops.bench.profiling import Profiler
from pinrelay_ops.bench.report import Row
from worker.config import Settings
from worker.errors import PinrelayError
from worker.local.supervisor import Managed, Stack

UNLIMITED: Final = 10**9  # abuse limits that are checked on every send but never reached
RATE_CHECKED_NEVER_WAITS: Final = 1_000_000.0  # token bucket consulted, never empty
SIGNATURE_SECRET: Final = "bench-signature-secret"  # noqa: S105 - a throwaway bench secret
SIGNATURE_METHOD: Final = "sha256"
POLL_S: Final = 0.05


class BenchError(PinrelayError):
    """A scenario could not complete (a component died, work never finished)."""


@dataclass
class Bench:
    """The run's shared state; scenarios take it and return a ScenarioResult."""

    base: Settings
    plan: Plan
    redis: redis.Redis
    redis_pid: int
    log_dir: Path
    loadgen: str  # "auto", "wrk" or "python"
    profiler: Profiler | None = None

    def settings(self, **overrides: Any) -> Settings:
        """The base settings under a fresh key prefix and queue, plus ``overrides``."""
        tag = uuid.uuid4().hex[:8]
        return self.base.replace(key_prefix=f"bench{tag}:", queue=f"bench-{tag}", **overrides)

    @contextmanager
    def stack(self, name: str, settings: Settings) -> Iterator[Stack]:
        stack = Stack(settings, log_dir=self.log_dir / name)
        try:
            yield stack
        finally:
            stack.stop()
            self.drop(stack.settings)

    def used_memory(self) -> int:
        return int(self.redis.info("memory")["used_memory"])

    def commands(self) -> Counter[str]:
        """Calls per command redis-server has processed so far (its own counters)."""
        stats = self.redis.info("commandstats")
        return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})

    def redis_target(self) -> Target:
        return Target(self.redis_pid, tree=False)

    def meter(self, **groups: list[Target]) -> ProcessMeter:
        """A meter already watching ``groups`` and redis-server (group ``redis``)."""
        meter = ProcessMeter()
        meter.watch("redis", [self.redis_target()])
        for name, targets in groups.items():
            meter.watch(name, targets)
        return meter

    def drop(self, settings: Settings) -> None:
        """Delete every key of ``settings``' prefix and Celery queue."""
        for pattern in (f"{settings.key_prefix}*", f"*{settings.queue}*"):
            batch = list(self.redis.scan_iter(match=pattern, count=5000))
            for start in range(0, len(batch), 5000):
                self.redis.delete(*batch[start : start + 5000])


def bench_settings(settings: Settings, redis_url: str) -> Settings:
    """Every feature on (the abuse limits and the pumping guard included), tuned so that no limit
    ever throttles the load itself."""
    # only the bench's own Redis, even with Sentinels configured
    return settings.with_redis(redis_url).replace(
        broker_url=None,
        rate_limit_per_s=RATE_CHECKED_NEVER_WAITS,
        per_number_10min=UNLIMITED,
        per_number_day=UNLIMITED,
        per_prefix_minute=UNLIMITED,
        # the pumping guard decides every send (its Redis work is measured) but never refuses
        key_hourly_quota=UNLIMITED,
        key_daily_quota=UNLIMITED,
        country_hourly_cap=(f"*={UNLIMITED}",),
        country_burst_10min=(f"*={UNLIMITED}",),
        daily_spend_cap=float(UNLIMITED),
        worker_concurrency=WORKER_PROCESSES,
        worker_pool="prefork",
        log_format="json",
        log_level="INFO",
    )


def start_process(stack: Stack, name: str, argv: list[str], **env: str) -> Managed:
    """A process the stack stops with the rest (logs in the stack's log directory)."""
    log_path = stack.log_dir / f"{name}.log" if stack.log_dir else None
    if stack.log_dir:
        stack.log_dir.mkdir(parents=True, exist_ok=True)
    managed = Managed(name, argv, stack.env(**env), log_path).start()
    stack.processes[name] = managed
    return managed


def wait_until(
    predicate: Callable[[], bool],
    timeout_s: float,
    what: str,
    alive: Callable[[], list[Managed]] = list,
    poll_s: float = POLL_S,
) -> float:
    """Poll until ``predicate()``; the wall-clock time it became true. Raises BenchError."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return time.time()
        dead = [m for m in alive() if not m.alive]
        if dead:
            logs = ", ".join(str(m.log_path) for m in dead if m.log_path)
            raise BenchError(f"{', '.join(m.name for m in dead)} exited while waiting for {what}"
                             + (f"; see {logs}" if logs else ""))
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(poll_s)


ACCEPTED_OUTCOME: Final = "status:0"  # the simulator's outcome for an accepted 2FA call


@dataclass(frozen=True, slots=True)
class ProviderCall:
    arrived: float  # unix seconds, first call
    count: int  # calls with this client-ref
    accepted: int  # of which accepted

    @property
    def errors(self) -> int:
        """Refused calls, plus any acceptance past the first (a PIN sent twice)."""
        return (self.count - self.accepted) + max(0, self.accepted - 1)


class SimControl:
    """The simulator's ``/_sim`` endpoints."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._session = requests.Session()

    def stats(self) -> dict[str, Any]:
        response = self._session.get(f"{self.url}/_sim/stats", timeout=30)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def request_count(self) -> int:
        return int(self.stats()["requests"])

    def calls(self) -> dict[str, ProviderCall]:
        """client-ref -> what the simulator saw of it: first arrival (unix s), calls, accepted."""
        response = self._session.get(f"{self.url}/_sim/requests", timeout=120)
        response.raise_for_status()
        seen: dict[str, ProviderCall] = {}
        for record in response.json():
            ref = str(record["params"].get("client-ref", ""))
            accepted = record.get("outcome") == ACCEPTED_OUTCOME
            before = seen.get(ref)
            if before is None:
                seen[ref] = ProviderCall(float(record["arrived"]), 1, int(accepted))
            else:
                seen[ref] = ProviderCall(min(before.arrived, float(record["arrived"])),
                                         before.count + 1, before.accepted + int(accepted))
        return seen

    def doubled(self) -> dict[str, int]:
        """client-ref -> accepted calls past the first, from the simulator's exact counters.

        Unlike :meth:`calls` (the request log, read once per phase) these count up
        to the moment of asking: a PIN accepted twice after its phase was read
        still shows here.
        """
        calls = self.stats().get("accepted_calls", [])
        return {str(c.get("client-ref", "")): int(c["count"]) - 1 for c in calls if int(c["count"]) > 1}

    def reset(self) -> None:
        self._session.post(f"{self.url}/_sim/reset", json={"keep_config": True}, timeout=30)

    def close(self) -> None:
        self._session.close()


class LateDoubles:
    """PINs accepted twice *after* their phase read the request log, charged to that phase's row.

    Each phase reads the simulator's request log once, when its work is in; a
    duplicate that arrived later would otherwise go unseen and the run would
    claim "nothing doubled". :meth:`settle` compares the simulator's exact
    counters with what the rows already counted; :meth:`reset` settles first,
    so nothing is forgotten unchecked.
    """

    def __init__(self, sim: SimControl) -> None:
        self.sim = sim
        self.charged = 0  # late doubles found so far
        self._rows: list[tuple[Row, set[str], dict[str, int]]] = []

    def record(self, row: Row, refs: Iterable[str], calls: dict[str, ProviderCall]) -> None:
        """``row`` counted ``calls`` for ``refs``; whatever is accepted beyond that is charged to it."""
        mine = set(refs)
        seen = {ref: max(0, calls[ref].accepted - 1) for ref in mine if ref in calls}
        self._rows.append((row, mine, seen))

    def settle(self) -> int:
        """Charge late doubles (as errors) to the rows recorded since the last reset; how many."""
        doubled = self.sim.doubled() if self._rows else {}
        late_total = 0
        for row, refs, seen in self._rows:
            late = sum(max(0, n - seen.get(ref, 0)) for ref, n in doubled.items() if ref in refs)
            row.errors += late
            late_total += late
        self._rows.clear()
        self.charged += late_total
        return late_total

    def reset(self) -> None:
        self.settle()
        self.sim.reset()


@contextmanager
def profiled(bench: Bench, sink: dict[str, list[tuple[str, float]]], label: str,
             pid: int | None) -> Iterator[None]:
    """Profile ``pid`` (and children) during the block when the run asked for profiles."""
    if bench.profiler is None or pid is None:
        yield
        return
    with bench.profiler.record(label, pid, sink):
        yield
