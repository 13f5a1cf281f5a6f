"""PINRELAY_LOG_FORMAT=json: every line the worker, receiver and correlator write is one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import redis
import requests

from pinrelay_ops.simulator import Simulator
from tests.support.commands import Command, command_env, stop_all
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from worker import constants as c
from worker.enqueue.producer import Producer
from worker.local.embedded import free_port
from worker.worker_app import create_app

# 32 hex characters like every request id, with a 14-digit run the old masking rewrote.
REQUEST_ID = "ab16365553226123cd0e1f2a3b4c5d6e"


def _not_json(text: str) -> list[str]:
    bad = []
    for line in text.splitlines():
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    return bad


def test_every_line_is_json_and_ids_are_intact(redis_url: str, sim: Simulator, tmp_path: Path) -> None:
    """Banner, warnings, granian's lines, shutdown notices: JSON; one `ready` each; the id unmasked."""
    settings = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url, log_format="json",
                                 signature_secret="json-logs-signature-secret")
    env = command_env(settings)
    port = free_port()
    commands = [
        Command.start(tmp_path, "worker", env, "worker", "--concurrency", "1"),
        Command.start(tmp_path, "webhook", env, "webhook", "--host", "127.0.0.1", "--port", str(port),
                      "--server-workers", "1"),
        Command.start(tmp_path, "correlator", env, "correlate"),
    ]
    client = redis.Redis.from_url(redis_url)
    app = create_app(settings)
    producer = Producer(settings, app)
    try:
        for command in commands:
            ready = command.wait_event("ready", timeout=60)
            assert ready["settings"]["PINRELAY_SIGNATURE_SECRET"] == "[redacted]"
            assert ready["settings"]["PINRELAY_KEY_PREFIX"] == settings.key_prefix
        # A plain send_task (as a service without pinrelay sends it): the task id is the request id.
        app.send_task(c.TASK_SEND_PIN, kwargs={"to": "16365553226", "pin": "8642"}, task_id=REQUEST_ID,
                      queue=settings.queue)
        record = wait_for(lambda: (r := producer.store.get_raw(REQUEST_ID)) and r.get("message_id") and r,
                          what="the worker to submit")
        answer = requests.get(f"http://127.0.0.1:{port}/delivery-receipt-webhook", timeout=5,
                              params={"messageId": record["message_id"], "status": "delivered"})
        assert answer.status_code == 401  # unsigned, so refused: and logged, as JSON
    finally:
        codes = stop_all(*commands)
        producer.close()
        cleanup(client, settings)
        client.close()
    assert codes == [0, 0, 0]
    for command in commands:
        assert _not_json(command.stdout() + command.stderr()) == [], command.name
        assert [e["event"] for e in command.json_events()].count("ready") == 1, command.name
    worker_events = commands[0].json_events()
    attempts = [e for e in worker_events if e["event"] == "provider_attempt"]
    assert attempts and attempts[0]["request_id"] == REQUEST_ID
    assert attempts[0]["message_id"] == record["message_id"] and attempts[0]["to"] == "1636555****"
    assert "8642" not in commands[0].stderr()
