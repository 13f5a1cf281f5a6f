"""`pinrelay up` as an operator sees it: its children's lines, a busy port, data kept over a restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.commands import Command, command_env, run
from tests.support.settings import isolated_settings
from tests.support.waiting import wait_for
from worker.local.embedded import free_port

# Abuse limits off: the test sends to one number; the simulator is on loopback (demo credentials).
UP_ENV = {"PINRELAY_PER_NUMBER_10MIN": "0", "PINRELAY_PER_PREFIX_MINUTE": "0", "PINRELAY_RATE_LIMIT": "0",
          "PINRELAY_LOG_FORMAT": "console"}
FINAL_OR_SUBMITTED = ("submitted", "accepted", "delivered", "failed", "expired", "rejected", "unknown")


def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    """A port another server holds (SO_REUSEPORT, as granian binds): exit 2, the port named, nothing run."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run(command_env(PINRELAY_RUNTIME_DIR=str(tmp_path), **UP_ENV),
                   "up", "--webhook-port", str(port), "--with-sim")
    assert done.returncode == 2
    assert f"port {port} (receipt receiver, --webhook-port) is already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no Redis started, no runtime file


def _up(tmp_path: Path, name: str, *args: str,
        webhook_port: int | None = None) -> tuple[Command, dict[str, Any]]:
    """`pinrelay up --with-sim` (plus ``args``) on a free port, once it printed its status line; that line."""
    port = webhook_port or free_port()
    up = Command.start(tmp_path, name, command_env(PINRELAY_RUNTIME_DIR=str(tmp_path / "state"), **UP_ENV),
                       "up", "--webhook-port", str(port), "--workers", "1", "--with-sim", *args)

    def status() -> dict[str, Any] | None:
        assert up.alive, up.stderr()
        line = up.stdout().partition("\n")[0]
        return json.loads(line) if line else None

    return up, wait_for(status, timeout=60, what=f"{name} to print its status line")


def _stop_group(up: Command) -> int:
    """SIGTERM to `up`'s whole process group at once, as a terminal's job control or systemd's
    control-group kill sends it; its exit code (the group killed if it hangs)."""
    os.killpg(up.process.pid, signal.SIGTERM)
    try:
        return up.process.wait(timeout=45)
    except subprocess.TimeoutExpired:
        os.killpg(up.process.pid, signal.SIGKILL)
        up.process.wait()
        raise AssertionError(f"{up.name} did not stop within 45 s:\n{up.stderr()}") from None


@pytest.mark.slow
def test_up_runs_everything_on_its_own_redis_and_keeps_records_over_a_restart(tmp_path: Path) -> None:
    """`pinrelay up --with-sim --api-port N`, no Redis configured: it starts its own (not :6379); the
    receiver answers; a second terminal's `send`/`status` and `keys create` find it, and a PIN goes out
    both ways (CLI and HTTP API); children's lines carry their name; SIGTERM to its process group
    stops it with exit 0 and removes its runtime file. A send made before a restart of `up` is still
    there after (the second `up` stopped by SIGTERM to itself alone, as `kill PID` sends it)."""
    state_env = command_env(PINRELAY_RUNTIME_DIR=str(tmp_path / "state"))
    webhook_port, api_port = free_port(), free_port()
    up, status = _up(tmp_path, "up-1", "--api-port", str(api_port), webhook_port=webhook_port)
    try:
        assert status["status"] == "up" and "127.0.0.1" in status["redis"]
        assert ":6379" not in status["redis"]
        assert status["api"] == f"http://127.0.0.1:{api_port}"
        assert requests.get(f"http://127.0.0.1:{webhook_port}/healthz", timeout=5).status_code == 200
        sent = run(state_env, "send", "16365553226", "--pin", "123456")
        assert sent.returncode == 0, sent.stderr
        request_id = json.loads(sent.stdout)["id"]

        def settled() -> dict[str, str] | None:
            shown = run(state_env, "status", request_id)
            record = json.loads(shown.stdout) if shown.returncode == 0 else None
            return record if record and record["state"] not in ("queued", "sending") else None

        before = wait_for(settled, timeout=60, what="the send to be processed")
        assert before["message_id"] and before["state"] in FINAL_OR_SUBMITTED

        created = run(state_env, "keys", "create", "second-terminal")
        assert created.returncode == 0, created.stderr
        headers = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
        answer = requests.post(f"{status['api']}/v1/pins", json={"to": "16365553226", "pin": "246813"},
                               headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        url = f"{status['api']}/v1/pins/{answer.json()['id']}"

        def sent_over_http() -> dict[str, str] | None:
            record: dict[str, str] = requests.get(url, headers=headers, timeout=10).json()
            return record if record["message_id"] else None

        record = wait_for(sent_over_http, 60, "the send made over HTTP")
        assert record["state"] in ("submitted", "accepted", "delivered", "failed", "expired", "rejected")
    finally:
        assert _stop_group(up) == 0
    assert not (tmp_path / "state" / "runtime.json").exists()
    shown = "\n" + up.stderr()
    for component in ("sim", "webhook", "correlator", "worker", "api"):
        assert f"\n{component:<10} | " in shown, f"no {component} lines in:\n{shown}"
    assert "webhook    | " in shown and "Listening at" in shown  # granian's own line, prefixed

    again, _ = _up(tmp_path, "up-2")
    try:
        shown_again = run(state_env, "status", request_id)
        assert shown_again.returncode == 0, shown_again.stderr
        after = json.loads(shown_again.stdout)
        assert after["id"] == request_id and after["message_id"] == before["message_id"]
    finally:
        assert again.stop() == 0
    assert [p.name for p in (tmp_path / "state").iterdir() if p.name.startswith("redis")] == ["redis"]


def test_webhook_refuses_a_port_another_receiver_holds(redis_url: str) -> None:
    """`pinrelay webhook` on a port already served (SO_REUSEPORT would share it): exit 2, port named."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run(command_env(isolated_settings(redis_url)), "webhook", "--host", "127.0.0.1",
                   "--port", str(port))
    assert done.returncode == 2
    assert f"port {port} (receipt receiver) is already in use" in done.stderr
