"""What a fault did, measured: batches of sends, their outcome, duplicates, provider-side rates.

Everything here reads outcomes (records in Redis, requests the simulator saw);
nothing sleeps blindly. The figures it computes are the ones RELIABILITY.md
reports.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pinrelay_ops.simulator import Simulator
from tests.support.waiting import poll, wait_for
from worker.enqueue.producer import PinSpec, Producer
from worker.local.supervisor import Managed
from worker.records.store import RecordStore
from worker.states import SETTLED_STATES, State

#: Where a send may rest once no worker has anything left to do with it.
SETTLED: frozenset[str] = frozenset(str(s) for s in SETTLED_STATES)
#: ... and, when no receipts are flowing, ``submitted`` is as far as a send gets.
DONE_WITHOUT_RECEIPTS: frozenset[str] = SETTLED | {State.SUBMITTED.value}
#: The error text CLAIM writes when a redelivered task finds its send in ``sending``.
WINDOW_TEXT = "no outcome recorded within the claim lease"


def numbers(count: int, offset: int = 0) -> list[str]:
    """``count`` distinct valid US numbers (636-555-xxxx)."""
    return [f"1636555{(offset + i) % 10_000:04d}" for i in range(count)]


def pin_for(index: int) -> str:
    """A distinct six-digit PIN per index, so the simulator can tell sends apart."""
    return f"{(index * 7919 + 100_000) % 900_000 + 100_000}"


def enqueue_batch(producer: Producer, count: int, offset: int = 0) -> list[str]:
    """``count`` PINs through the bulk producer API; their request ids."""
    specs = [PinSpec(to, pin_for(offset + i)) for i, to in enumerate(numbers(count, offset))]
    return producer.send_pins(specs)


def records(store: RecordStore, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Raw records by request id (an empty dict for a record that is gone)."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(zip(chunk, store.get_many(chunk), strict=True))
    return found


def wait_until_done(
    store: RecordStore, ids: Sequence[str], done: Iterable[str], timeout: float
) -> dict[str, dict[str, str]]:
    """Poll until every record is in ``done`` or ``timeout`` passes; the last records either way."""
    targets = frozenset(done)
    found: dict[str, dict[str, str]] = {}

    def all_done() -> bool:
        found.clear()
        found.update(records(store, ids))
        return all(r.get("state") in targets for r in found.values())

    poll(all_done, timeout)
    return found


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """:func:`wait_for`, polling at least every 50 ms: fault tests time how fast things settle."""
    return wait_for(predicate, timeout, what, max_delay=0.05)


def accepted_calls(sim: Simulator) -> Counter[str]:
    """Accepted provider calls per client-ref (our request id when the caller gave none)."""
    return Counter(
        r["params"].get("client-ref", "")
        for r in sim.requests()
        if r.get("status") == "0" and r.get("message_id")
    )


def calls_by_ref(sim: Simulator) -> dict[str, list[dict[str, Any]]]:
    """Every provider call, grouped by client-ref, in arrival order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(sim.requests(), key=lambda r: float(r["arrived"])):
        grouped.setdefault(r["params"].get("client-ref", ""), []).append(r)
    return grouped


@dataclass
class Outcome:
    """A batch after the fault: how it ended, what was lost, what was sent twice."""

    sent: int
    states: Counter[str]
    lost: list[str]
    duplicated: dict[str, int]
    in_window: list[str]
    records: dict[str, dict[str, str]] = field(repr=False)

    @property
    def unconfirmed(self) -> list[str]:
        return [rid for rid, r in self.records.items() if r.get("state") == State.UNCONFIRMED.value]


def outcome(
    store: RecordStore, sim: Simulator, ids: Sequence[str], done: Iterable[str], timeout: float
) -> Outcome:
    """Wait for the batch to come to rest, then count: lost = not in ``done``; duplicated =
    more than one accepted provider call for one request; in_window = marked unconfirmed by
    a redelivered task (the worker died during the provider call)."""
    found = wait_until_done(store, ids, done, timeout)
    targets = frozenset(done)
    calls = accepted_calls(sim)
    return Outcome(
        sent=len(ids),
        states=Counter(r.get("state", "<missing>") for r in found.values()),
        lost=[rid for rid, r in found.items() if r.get("state") not in targets],
        duplicated={rid: calls[rid] for rid in ids if calls[rid] > 1},
        in_window=[rid for rid, r in found.items() if r.get("error_text", "").startswith(WINDOW_TEXT)],
        records=found,
    )


def sliding_rates(arrivals: Sequence[float], window_s: float = 1.0) -> tuple[int, float]:
    """(max requests in any ``window_s`` window, mean rate per second) of arrival times."""
    times = sorted(arrivals)
    if len(times) < 2:
        return len(times), 0.0
    best, left = 0, 0
    for right, t in enumerate(times):
        while t - times[left] >= window_s:
            left += 1
        best = max(best, right - left + 1)
    return best, (len(times) - 1) / (times[-1] - times[0])


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (a Celery worker's prefork pool processes), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except FileNotFoundError:
        return []


def kill_pool_child(worker: Managed, index: int = 0) -> int:
    """SIGKILL one prefork pool process of ``worker`` (the OOM killer's way); its pid."""
    assert worker.process is not None
    pid = worker.process.pid
    children: list[int] = wait_until(lambda: child_pids(pid), 10, "the pool processes")
    victim = children[index % len(children)]
    os.kill(victim, signal.SIGKILL)
    return victim


def kill_worker(worker: Managed) -> None:
    """SIGKILL a whole worker: its main process and every pool process (its process group)."""
    worker.signal(signal.SIGKILL)
    if worker.process is not None:
        worker.process.wait(timeout=10)


def describe(result: Outcome, sim: Simulator, live: Any = None, limit: int = 5) -> str:
    """States of the batch plus the first lost records, their provider calls and (with
    ``live``) where the broker still holds their task, for a failure message."""
    calls = calls_by_ref(sim)
    lines = [f"states {dict(result.states)}; lost {len(result.lost)}"]
    for rid in result.lost[:limit]:
        record = {k: v for k, v in result.records[rid].items() if k not in ("pin", "params")}
        seen = [(c["status"], c["http_status"], c["fault"]) for c in calls.get(rid, [])]
        held = (broker_holds(live.producer.redis, live.settings.queue, rid, live.settings.key_prefix)
                if live else "?")
        lines.append(f"{rid}: {record} provider calls {seen}; broker holds the task in {held}")
    return "\n".join(lines)


def broker_holds(client: Any, queue: str, task_id: str, prefix: str = "") -> list[str]:
    """Where kombu's Redis transport still holds ``task_id``'s message: the queue list, the
    ``unacked`` hash (and whether its ``unacked_index`` entry and a restore mutex exist);
    empty: the broker has no copy left."""
    places = []
    if any(task_id.encode() in raw for raw in client.lrange(queue, 0, -1)):
        places.append("queue")
    for tag, raw in client.hgetall(f"{prefix}unacked").items():
        if task_id.encode() in raw:
            score = client.zscore(f"{prefix}unacked_index", tag)
            places.append(f"unacked (index score {score}, now {time.time():.0f})")
    if client.exists(f"{prefix}unacked_mutex"):
        places.append(f"unacked_mutex held, ttl {client.ttl(f'{prefix}unacked_mutex')}s")
    return places
