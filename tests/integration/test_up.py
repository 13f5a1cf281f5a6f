"""`pinrelay up` as an operator sees it: its children's lines, a busy port, data kept over a restart."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.support.commands import Command, command_env, run
from tests.support.settings import isolated_settings
from tests.support.waiting import wait_for
from worker.local.embedded import free_port

# Abuse limits off: the test sends to one number; the simulator is on loopback (demo credentials).
UP_ENV = {"PINRELAY_PER_NUMBER_10MIN": "0", "PINRELAY_PER_PREFIX_MINUTE": "0", "PINRELAY_RATE_LIMIT": "0",
          "PINRELAY_LOG_FORMAT": "console"}  # fmt: skip


def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    """A port another server holds (SO_REUSEPORT, as granian binds): exit 2, the port named, nothing run."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run(command_env(PINRELAY_RUNTIME_DIR=str(tmp_path), **UP_ENV),
                   "up", "--webhook-port", str(port), "--with-sim")  # fmt: skip
    assert done.returncode == 2
    assert f"port {port} (receipt receiver, --webhook-port) is already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no Redis started, no runtime file


def _up(tmp_path: Path, name: str) -> Command:
    """`pinrelay up --with-sim` on a free port, once it printed its status line."""
    up = Command.start(tmp_path, name, command_env(PINRELAY_RUNTIME_DIR=str(tmp_path / "state"), **UP_ENV),
                       "up", "--webhook-port", str(free_port()), "--workers", "1", "--with-sim")  # fmt: skip

    def status() -> dict[str, str] | None:
        assert up.alive, up.stderr()
        line = up.stdout().partition("\n")[0]
        return json.loads(line) if line else None

    wait_for(status, timeout=60, what=f"{name} to print its status line")
    return up


@pytest.mark.slow
def test_up_shows_its_children_and_keeps_records_over_a_restart(tmp_path: Path) -> None:
    """Children's lines carry their name; a send made before a restart of `up` is still there after."""
    state_env = command_env(PINRELAY_RUNTIME_DIR=str(tmp_path / "state"))
    up = _up(tmp_path, "up-1")
    try:
        sent = run(state_env, "send", "16365553226", "--pin", "123456")
        assert sent.returncode == 0, sent.stderr
        request_id = json.loads(sent.stdout)["id"]

        def settled() -> dict[str, str] | None:
            shown = run(state_env, "status", request_id)
            record = json.loads(shown.stdout) if shown.returncode == 0 else None
            return record if record and record["state"] not in ("queued", "sending") else None

        before = wait_for(settled, timeout=60, what="the send to be processed")
    finally:
        assert up.stop() == 0
    shown = "\n" + up.stderr()
    for component in ("sim", "webhook", "correlator", "worker"):
        assert f"\n{component:<10} | " in shown, f"no {component} lines in:\n{shown}"
    assert "webhook    | " in shown and "Listening at" in shown  # granian's own line, prefixed

    again = _up(tmp_path, "up-2")
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
                   "--port", str(port))  # fmt: skip
    assert done.returncode == 2
    assert f"port {port} (receipt receiver) is already in use" in done.stderr
