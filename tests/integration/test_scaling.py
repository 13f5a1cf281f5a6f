"""Scaling out: two worker processes and two receipt receivers share one store.

Each run starts, as real processes, two ``pinrelay worker`` invocations (two
Celery nodes), two ``pinrelay webhook`` receivers on their own ports and one
correlator, all on one Redis key prefix. The in-process simulator sends the
receipts of the first half of the batch to receiver A and of the second half
to receiver B. The run is done twice: with Redis as the Celery broker and with
RabbitMQ (``amqp://guest:guest@127.0.0.1:5672//``, Redis still the store).
RabbitMQ not answering is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from pinrelay_ops.simulator import Simulator
from tests.support.live import stop_stack, wait_ready
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.local.embedded import free_port
from worker.local.supervisor import CLI, Stack, wait_http
from worker.worker_app import create_app

BATCH = 120
WORKERS = ("worker-a", "worker-b")
RECEIVERS = ("webhook-a", "webhook-b")
RECEIPT_PATH = "/delivery-receipt-webhook"
RECEIPT_STATES = {"accepted", "buffered", "delivered", "expired", "failed", "rejected", "unknown"}
MIX = {"delivered": 85, "failed": 6, "expired": 4, "rejected": 3, "unknown": 2}  # every final kind
AMQP_URL = os.environ.get("PINRELAY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@dataclass
class ScaledRun:
    settings: Settings
    ids: list[str]
    pins: dict[str, tuple[str, str, str]]  # request id -> (to, pin, client-ref)
    accepted: dict[str, int]  # request id -> times the simulator accepted that exact send
    records: list[dict[str, str]]
    receiver_urls: dict[str, str]  # process name -> receipt URL
    receipts: list[dict[str, Any]]
    logs: dict[str, str] = field(default_factory=dict)  # process name -> its log

    def provider_attempts(self, worker: str) -> int:
        """Lines of a worker's JSON log with ``"event": "provider_attempt"``."""
        count = 0
        for line in self.logs[worker].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            count += isinstance(event, dict) and event.get("event") == "provider_attempt"
        return count


def require_rabbitmq(url: str) -> None:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"RabbitMQ is not reachable at {parts.hostname}:{parts.port or 5672} ({exc}); "
                    "start it (`rabbitmq-server -detached`) or set PINRELAY_TEST_AMQP_URL")


def start_receivers(stack: Stack, names: tuple[str, ...]) -> dict[str, str]:
    """A `pinrelay webhook` process under each name, all started before any is waited for;
    their receipt URLs, once each answers."""
    started = {}
    for name in names:
        port = free_port()
        proc = stack._start(name, [*CLI, "webhook", "--host", "127.0.0.1", "--port", str(port),
                                   "--server-workers", "1"])
        started[name] = (proc, f"http://127.0.0.1:{port}")
    for name, (proc, base) in started.items():
        wait_http(f"{base}/healthz", f"receipt receiver {name}", proc)
    return {name: base + RECEIPT_PATH for name, (_, base) in started.items()}


def delete_amqp_queue(settings: Settings) -> None:
    app = create_app(settings)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(settings.queue)


def scaled_run(redis_url: str, sim: Simulator, log_dir: Path, broker_url: str | None) -> ScaledRun:
    settings = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url, broker_url=broker_url)
    stack = Stack(settings, log_dir=log_dir)
    stack.ensure_redis()
    producer: Producer | None = None
    try:
        workers = [stack.start_worker(name=name) for name in WORKERS]  # they boot meanwhile
        urls = start_receivers(stack, RECEIVERS)
        correlator = stack.start_correlator()
        app = create_app(settings)
        wait_ready(stack, app, workers, others=[correlator])
        producer = Producer(settings, app)
        store = producer.store
        sim.configure(dlr_url=urls["webhook-a"], dlr_delay_s=0.05, latency_ms=10.0, dlr_mix=MIX)
        pins: dict[str, tuple[str, str, str]] = {}
        halves: list[list[str]] = [[], []]
        for half, receiver in enumerate(RECEIVERS):
            sim.configure(dlr_url=urls[receiver])
            for i in range(half * BATCH // 2, (half + 1) * BATCH // 2):
                to, pin, ref = f"1636555{3000 + i:04d}", f"97{i * 7919:08d}", f"scale-{i}"
                request_id = producer.send_pin(to, pin, ref)
                pins[request_id] = (to, pin, ref)
                halves[half].append(request_id)
            # The simulator addresses a receipt when it accepts the send: wait for acceptance
            # before pointing it at the other receiver.
            wait_for(lambda h=halves[half]: all(r.get("message_id") for r in store.get_many(h)),  # type: ignore[misc]
                     30, f"the sends of half {half + 1} to be accepted by the provider")
        ids = halves[0] + halves[1]
        records = wait_for(
            lambda: (rs := store.get_many(ids))
            and all(r.get("state") in RECEIPT_STATES and r.get("receipt_at") for r in rs) and rs,
            30, "every send to be correlated with a receipt",
        )
        assert sim.wait_receipts_idle(10)
        accepted = {rid: sim.accepted_count(*spec) for rid, spec in pins.items()}
        run = ScaledRun(settings, ids, pins, accepted, records, urls, sim.receipts())
    finally:
        stop_stack(stack, producer.redis if producer is not None else None)
        if producer is not None:
            producer.close()
        sim.reset()
        client = redis.Redis.from_url(redis_url)
        cleanup(client, settings)
        client.close()
        if broker_url:
            delete_amqp_queue(settings)
    run.logs = {path.stem: path.read_text(errors="replace") for path in log_dir.glob("*.log")}
    return run


@pytest.fixture(scope="module", params=["redis-broker", "rabbitmq-broker"])
def run(request: pytest.FixtureRequest, redis_url: str, sim: Simulator,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaledRun]:
    broker_url = None
    if request.param == "rabbitmq-broker":
        require_rabbitmq(AMQP_URL)
        broker_url = AMQP_URL
    yield scaled_run(redis_url, sim, tmp_path_factory.mktemp(request.param), broker_url)


def test_both_worker_processes_took_sends_and_each_send_was_called_once(run: ScaledRun) -> None:
    """Two independent workers share the queue: both made provider calls, BATCH calls in all."""
    attempts = {name: run.provider_attempts(name) for name in WORKERS}
    assert all(n > 0 for n in attempts.values()), attempts
    assert sum(attempts.values()) == BATCH, attempts


def test_no_pin_was_accepted_twice_by_the_provider(run: ScaledRun) -> None:
    """Two workers never both send one PIN: the simulator accepted each send exactly once."""
    assert len(run.accepted) == BATCH
    assert set(run.accepted.values()) == {1}, Counter(run.accepted.values())


def test_both_receivers_took_receipts_and_acknowledged_every_one(run: ScaledRun) -> None:
    """The simulator's receipts went to receiver A, then to B, and each answered 2xx."""
    by_url = Counter(r["url"] for r in run.receipts)
    assert set(by_url) == set(run.receiver_urls.values()), by_url
    assert all(n >= BATCH // 2 for n in by_url.values()), by_url
    assert {r["state"] for r in run.receipts} == {"acknowledged"}


def test_every_send_is_correlated_to_its_receipt_state(run: ScaledRun) -> None:
    """The one correlator matched the receipts of both receivers to all BATCH records."""
    assert len(run.records) == BATCH
    assert all(r["state"] in RECEIPT_STATES for r in run.records)
    assert {r["state"] for r in run.records} & {"failed", "expired", "rejected", "unknown"}
    receipt_status = Counter(r["receipt_status"] for r in run.records)
    assert sum(receipt_status.values()) == BATCH


def test_no_pin_appears_in_any_process_log(run: ScaledRun) -> None:
    """Workers, receivers and correlator log JSON lines without a single PIN of the batch."""
    assert set(run.logs) >= {*WORKERS, *RECEIVERS, "correlator"}
    leaked = {name: [p for _, p, _ in run.pins.values() if p in text] for name, text in run.logs.items()}
    assert {name: pins for name, pins in leaked.items() if pins} == {}
