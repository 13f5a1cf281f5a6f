"""The real `pinrelay webhook` against hostile clients (issue 10 findings 1, 7 and 10).

Each test starts the command an operator runs, on loopback, and talks to it over raw
sockets where a well-behaved HTTP client would not do what an attacker does. The
non-loopback address in the refusal tests is 192.0.2.1 (TEST-NET-1, RFC 5737): no machine
has it, so nothing here ever listens beyond loopback. (Stalled bodies:
tests/reliability/test_slow_bodies.py.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.support.receiver import CLI, Start, command_env, receivers
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from webhook.app import RECEIPT_PATH
from worker.config import Settings
from worker.local.embedded import free_port

NOWHERE = "192.0.2.1"  # TEST-NET-1: not loopback, and no interface has it


@pytest.fixture
def settings_here(redis_url: str) -> Iterator[Settings]:
    configured = isolated_settings(redis_url)
    yield configured
    client = redis.Redis.from_url(redis_url)
    cleanup(client, configured)
    client.close()


@pytest.fixture
def start(settings_here: Settings, tmp_path: Path) -> Iterator[Start]:
    with receivers(settings_here, tmp_path) as launch:
        yield launch


def _run_to_end(settings: Settings, *args: str) -> tuple[int, str]:
    """Run `pinrelay webhook` with ``args`` to its end (killed after 30 s); exit code, output."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([*CLI, "--port", str(free_port()), *args], env=command_env(settings),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = -9
        log.seek(0)
        return code, log.read().decode(errors="replace")


def test_public_address_without_a_secret_is_refused(settings_here: Settings) -> None:
    """Issue 10 finding 1: unsigned on a non-loopback address, `pinrelay webhook` exits 2 at once
    with one line naming PINRELAY_SIGNATURE_SECRET (and `--insecure-unsigned`), starting nothing."""
    code, output = _run_to_end(settings_here, "--host", NOWHERE)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "PINRELAY_SIGNATURE_SECRET" in lines[0] and "--insecure-unsigned" in lines[0]
    assert "granian" not in output


def test_insecure_unsigned_gets_past_the_refusal_with_a_warning(settings_here: Settings) -> None:
    """`--insecure-unsigned` lets it start (here: as far as binding the address nobody has), and
    says at WARNING that forged receipts will be accepted."""
    code, output = _run_to_end(settings_here, "--host", NOWHERE, "--insecure-unsigned")
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    warnings = [e for e in events if e.get("event") == "webhook_unsigned_on_public_address"]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning" and warnings[0]["host"] == NOWHERE
    # past the refusal: it went on to the address itself, which no interface has
    assert "PINRELAY_SIGNATURE_SECRET to the provider's" not in output
    assert f"cannot listen on {NOWHERE}" in output and "Cannot assign requested address" in output
    assert code != 0


def test_chunked_body_cut_off_is_400_and_not_queued(start: Start, settings_here: Settings,
                                                   redis_client: redis.Redis) -> None:
    """Issue 10 finding 7: a chunk announced as 30 bytes, 21 sent, then the client's side closes:
    400, and no `status=de` on the stream."""
    running = start()
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    sock.sendall(b"POST " + RECEIPT_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"1e\r\nmessageId=0ACUT&status=de")
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    assert reply.split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request", reply
    assert redis_client.xlen(f"{settings_here.key_prefix}receipts") == 0


def test_metrics_can_move_to_a_port_of_their_own(start: Start) -> None:
    """PINRELAY_WEBHOOK_METRICS=<port>: /metrics is gone from the receipt port and served there,
    adding up the receiver's workers."""
    metrics_port = free_port()
    running = start(PINRELAY_WEBHOOK_METRICS=str(metrics_port))
    assert requests.get(running.base + "/metrics", timeout=5).status_code == 404
    moved = wait_for(lambda: _get(f"http://127.0.0.1:{metrics_port}/metrics"), 10, "metrics on their port")
    assert moved.status_code == 200 and 'pinrelay_webhook_requests_total{status="404"}' in moved.text


def test_metrics_can_be_switched_off(start: Start) -> None:
    """PINRELAY_WEBHOOK_METRICS=off: no /metrics anywhere."""
    running = start(PINRELAY_WEBHOOK_METRICS="off")
    assert requests.get(running.base + "/metrics", timeout=5).status_code == 404


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.RequestException:
        return None
