"""`pinrelay worker` / `pinrelay correlate` with PINRELAY_METRICS_PORT: the scrape an alert reads."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from pinrelay_ops.simulator import Simulator
from tests.support.commands import Command, command_env, scrape, stop_all
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from worker import constants as c
from worker.enqueue.producer import Producer
from worker.local.embedded import free_port
from worker.worker_app import create_app


def test_worker_and_correlator_export_what_the_alerts_query(
    redis_url: str, sim: Simulator, tmp_path: Path
) -> None:
    """A send through the real worker is counted on its /metrics; a receipt on the correlator's."""
    settings = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url,
                                 metrics_host="127.0.0.1")
    worker_port, correlator_port = free_port(), free_port()
    worker = Command.start(tmp_path, "worker", command_env(settings, PINRELAY_METRICS_PORT=str(worker_port)),
                           "worker", "--concurrency", "1")
    correlator = Command.start(tmp_path, "correlator",
                               command_env(settings, PINRELAY_METRICS_PORT=str(correlator_port)), "correlate")
    client = redis.Redis.from_url(redis_url)
    producer = Producer(settings, create_app(settings))
    try:
        assert worker.wait_event("ready")["metrics"] == f"127.0.0.1:{worker_port}"
        assert scrape(worker_port, "pinrelay_submit_latency_seconds_count") == 0  # there from the start
        request_id = producer.send_pin("16365553226", "4321")
        record = wait_for(lambda: (r := producer.get_status(request_id))["state"] == "submitted" and r,
                          what="the worker to submit")
        assert scrape(worker_port, "pinrelay_send_attempts_total") >= 1
        assert scrape(worker_port, "pinrelay_submit_latency_seconds_count") >= 1

        assert correlator.wait_event("ready")["metrics"] == f"127.0.0.1:{correlator_port}"
        client.xadd(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}",
                    {"messageId": record["message_id"], "status": "delivered", "msisdn": "16365553226",
                     "err-code": "0", "received_at": f"{time.time():.3f}"})
        wait_for(lambda: scrape(correlator_port, "pinrelay_correlated_receipts_total") >= 1,
                 what="the correlator to count the receipt")
        assert scrape(correlator_port, "pinrelay_receipt_lag_seconds_count") >= 1
        assert scrape(correlator_port, "pinrelay_sends_total") >= 1  # the cluster view from Redis
    finally:
        codes = tuple(stop_all(worker, correlator))
        producer.close()
        cleanup(client, settings)
        client.close()
    assert codes == (0, 0)
    assert "Traceback" not in worker.stderr() + correlator.stderr()


def test_two_workers_with_one_env_file_both_run(redis_url: str, sim: Simulator, tmp_path: Path) -> None:
    """The second worker on a taken metrics port logs one clear line and keeps working."""
    settings = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url,
                                 metrics_host="127.0.0.1")
    port = free_port()
    env = command_env(settings, PINRELAY_METRICS_PORT=str(port))
    first = Command.start(tmp_path, "first", env, "worker", "--concurrency", "1", "--name", "w1@%h")
    second = None
    try:
        assert first.wait_event("ready")["metrics"] == f"127.0.0.1:{port}"
        second = Command.start(tmp_path, "second", env, "worker", "--concurrency", "1", "--name", "w2@%h")
        assert second.wait_event("ready")["metrics"] is None
        refused = [e for e in second.json_events() if e.get("event") == "metrics_unavailable"]
        assert len(refused) == 1 and refused[0]["port"] == port
        assert "PINRELAY_METRICS_PORT" in refused[0]["hint"]
        assert first.alive and second.alive
        assert scrape(port, "pinrelay_submit_latency_seconds_count") == 0  # the first one still answers
    finally:
        codes = stop_all(first, second)
        client = redis.Redis.from_url(redis_url)
        cleanup(client, settings)
        client.close()
    assert codes == [0, 0]
    assert "Traceback" not in first.stderr() + (second.stderr() if second else "")
