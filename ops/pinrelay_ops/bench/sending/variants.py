"""The two sides of the sends scenario: pinrelay's producer and workers, and the naive baseline.

Each variant enqueues (in bulk, or one at a time), starts its workers, and
says how many of the enqueued sends never reached the provider. References are
what the simulator sees as ``client-ref``: pinrelay's request id, or the naive
task's own reference.
"""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from typing import Protocol

from celery import Celery

from pinrelay_ops.bench.harness import start_process
from pinrelay_ops.bench.naive import sends as naive_celery
from pinrelay_ops.bench.plan import SEED_BATCH, WORKER_PROCESSES
from pinrelay_ops.bench.receipt_pool import number
from worker.enqueue.producer import PinSpec, Producer
from worker.local.supervisor import Managed, Stack
from worker.states import State
from worker.worker_app import create_app

RECORDS_SETTLE_S = 10.0  # a provider call is recorded as submitted right after it returns


def pin(index: int) -> str:
    return f"{(index * 7919) % 1_000_000:06d}"


def _stop(stack: Stack, name: str) -> float:
    """Stop the stack's process ``name`` if it runs (a warm shutdown); the seconds that took.

    The caller notes a slow one: Celery's warm shutdown now and then hangs until
    the supervisor's SIGKILL, which costs the run time but no work (it is all
    accounted for before any worker is stopped).
    """
    worker = stack.processes.pop(name, None)
    began = time.monotonic()
    if worker is not None:
        worker.stop()
    return time.monotonic() - began


class SendVariant(Protocol):
    key: str  # short name for files
    label: str  # shown in the table
    queue: str  # the Celery queue its tasks wait in
    tracks: bool  # keeps a record per send (so Redis memory per send applies)

    def enqueue_bulk(self, count: int, batch: int = SEED_BATCH) -> list[str]: ...
    def enqueue_one(self, index: int) -> str: ...
    def start_worker(self, procs: int = WORKER_PROCESSES) -> Managed: ...
    def stop_worker(self) -> float: ...
    def lost(self, refs: list[str], arrived: dict[str, float]) -> int: ...
    def close(self) -> None: ...


class OurSends:
    key, label, tracks = "pinrelay", "pinrelay", True

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.settings = stack.settings
        self.queue = self.settings.queue
        self.app: Celery = create_app(self.settings)
        self.producer = Producer(self.settings, self.app)

    def enqueue_bulk(self, count: int, batch: int = SEED_BATCH) -> list[str]:
        """``send_pins`` once per ``batch`` PINs."""
        ids: list[str] = []
        for start in range(0, count, batch):
            specs = [PinSpec(number(i), pin(i), idempotency_key=f"bulk-{uuid.uuid4().hex}")
                     for i in range(start, min(count, start + batch))]
            ids += self.producer.send_pins(specs)
        return ids

    def enqueue_one(self, index: int) -> str:
        return self.producer.send_pin(number(index), pin(index), idempotency_key=uuid.uuid4().hex)

    def start_worker(self, procs: int = WORKER_PROCESSES) -> Managed:
        """``pinrelay worker`` with ``procs`` prefork children."""
        return self.stack.start_worker(concurrency=procs)

    def stop_worker(self) -> float:
        return _stop(self.stack, "worker")

    def lost(self, refs: list[str], arrived: dict[str, float]) -> int:
        """Sends whose record is not ``submitted`` (waiting briefly for the last ones)."""
        deadline = time.monotonic() + RECORDS_SETTLE_S
        while True:
            records = self.producer.store.get_many(refs)
            missing = sum(1 for r in records if r.get("state") != State.SUBMITTED.value)
            if not missing or time.monotonic() > deadline:
                return missing + sum(1 for r in refs if r not in arrived)
            time.sleep(0.1)

    def close(self) -> None:
        self.stop_worker()
        self.producer.close()
        self.app.close()


class NaiveSends:
    key, label, tracks = "naive", "naive Celery+POST", False

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.queue = f"{stack.settings.queue}-naive"
        self.app = naive_celery.create_app(stack.settings.replace(queue=self.queue))
        self.task = self.app.tasks[naive_celery.TASK_NAME]

    def enqueue_bulk(self, count: int, batch: int = SEED_BATCH) -> list[str]:
        """``apply_async`` in a loop on one producer, inside kombu's pipelined
        ``Producer.batch`` where kombu has it (5.7+; pinrelay pins 5.6, which has not)."""
        refs = [f"naive-{uuid.uuid4().hex}" for _ in range(count)]
        with self.app.producer_or_acquire() as producer, (
            producer.batch(max_size=batch) if hasattr(producer, "batch") else contextlib.nullcontext()
        ):
            for i, ref in enumerate(refs):
                self.task.apply_async(args=[ref, number(i), pin(i)], producer=producer)
        return refs

    def enqueue_one(self, index: int) -> str:
        ref = f"naive-{uuid.uuid4().hex}"
        self.task.apply_async(args=[ref, number(index), pin(index)])
        return ref

    def start_worker(self, procs: int = WORKER_PROCESSES) -> Managed:
        """The naive Celery worker with ``procs`` prefork children."""
        argv = [sys.executable, "-m", "pinrelay_ops.bench.naive.sends"]
        return start_process(self.stack, "naive-worker", argv, PINRELAY_QUEUE=self.queue,
                             PINRELAY_WORKER_CONCURRENCY=str(procs))

    def stop_worker(self) -> float:
        return _stop(self.stack, "naive-worker")

    def lost(self, refs: list[str], arrived: dict[str, float]) -> int:
        return sum(1 for r in refs if r not in arrived)

    def close(self) -> None:
        self.stop_worker()
        self.app.close()
