"""`pinrelay up --api-port N` runs the HTTP API with the rest; a second terminal's `keys create` finds it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.waiting import wait_for
from worker.local.embedded import free_port

CLI = [sys.executable, "-m", "worker.cli"]


@pytest.mark.slow
def test_up_with_an_api_port_serves_the_api(tmp_path: Path) -> None:
    """The API answers on the port, with the key made by `pinrelay keys create`, and a PIN goes out."""
    webhook_port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update({"PINRELAY_RUNTIME_DIR": str(tmp_path), "PINRELAY_PER_NUMBER_10MIN": "0",
                "PINRELAY_PER_PREFIX_MINUTE": "0", "PINRELAY_RATE_LIMIT": "0"})  # fmt: skip
    up = subprocess.Popen([*CLI, "up", "--webhook-port", str(webhook_port), "--api-port", str(api_port),
                           "--workers", "1", "--with-sim"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        assert up.stdout is not None
        status = json.loads(up.stdout.readline())
        assert status["api"] == f"http://127.0.0.1:{api_port}"
        created = subprocess.run([*CLI, "keys", "create", "second-terminal"], env=env, capture_output=True,
                                 text=True, timeout=60, check=True)  # fmt: skip
        headers = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
        answer = requests.post(f"{status['api']}/v1/pins", json={"to": "16365553226", "pin": "246813"},
                               headers=headers, timeout=10)  # fmt: skip
        assert answer.status_code == 202, answer.text
        rid = answer.json()["id"]
        url = f"{status['api']}/v1/pins/{rid}"
        def sent() -> dict[str, str] | None:
            record: dict[str, str] = requests.get(url, headers=headers, timeout=10).json()
            return record if record["message_id"] else None

        record = wait_for(sent, 60, "the send")
        assert record["state"] in ("submitted", "accepted", "delivered", "failed", "expired", "rejected")
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    assert up.returncode == 0
