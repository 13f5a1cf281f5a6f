"""The real `pinrelay webhook` against hostile clients (issue 10 findings 1, 2, 7 and 10).

Each test starts the command an operator runs, on loopback, and talks to it over raw
sockets where a well-behaved HTTP client would not do what an attacker does. The
non-loopback address in the refusal tests is 192.0.2.1 (TEST-NET-1, RFC 5737): no machine
has it, so nothing here ever listens beyond loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import redis
import requests

from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from webhook.app import RECEIPT_PATH
from worker.config import Settings
from worker.local.embedded import free_port

CLI = [sys.executable, "-m", "worker.cli", "webhook"]
NOWHERE = "192.0.2.1"  # TEST-NET-1: not loopback, and no interface has it
STALLED = 48  # more than the 32 threads a receiver worker runs the app on
BODY_TIMEOUT_S = 2.0


class Running:
    """A `pinrelay webhook` process, its port and its output."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self.process, self.port, self._log = process, port, log
        self.base = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    return {**env, **settings.to_env(), **extra}


@pytest.fixture
def settings_here(redis_url: str) -> Iterator[Settings]:
    configured = isolated_settings(redis_url)
    yield configured
    client = redis.Redis.from_url(redis_url)
    cleanup(client, configured)
    client.close()


@pytest.fixture
def start(settings_here: Settings, tmp_path: Path) -> Iterator[Any]:
    """``start(*args, **env)``: a `pinrelay webhook` on a free loopback port, ready to answer."""
    started: list[Running] = []

    def launch(*args: str, **extra_env: str) -> Running:
        port = free_port()
        log = (tmp_path / f"webhook-{port}.log").open("w+b")
        argv = [*CLI, "--host", "127.0.0.1", "--port", str(port), "--server-workers", "1", *args]
        process = subprocess.Popen(argv, env=_env(settings_here, **extra_env), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        running = Running(process, port, log)
        started.append(running)

        def ready() -> bool:
            assert process.poll() is None, running.output()
            try:
                return requests.get(running.base + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 30, "the receiver to answer /healthz")
        return running

    yield launch
    for running in started:
        running.stop()


def _refused(settings: Settings, *args: str) -> tuple[int, str]:
    """Run `pinrelay webhook` with ``args`` to its end (killed after 30 s); exit code, output."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([*CLI, "--port", str(free_port()), *args], env=_env(settings),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
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
    code, output = _refused(settings_here, "--host", NOWHERE)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "PINRELAY_SIGNATURE_SECRET" in lines[0] and "--insecure-unsigned" in lines[0]
    assert "granian" not in output


def test_insecure_unsigned_gets_past_the_refusal_with_a_warning(settings_here: Settings) -> None:
    """`--insecure-unsigned` lets it start (here: as far as binding the address nobody has), and
    says at WARNING that forged receipts will be accepted."""
    code, output = _refused(settings_here, "--host", NOWHERE, "--insecure-unsigned")
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    warning = next(e for e in events if e.get("event") == "webhook_unsigned_on_public_address")
    assert warning["level"] == "warning" and warning["host"] == NOWHERE
    assert "Cannot assign requested address" in output  # granian got as far as binding it
    assert code != 2


def _stall(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST " + RECEIPT_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"
                 b"messageId=0A1&status=deliv")  # fmt: skip
    return sock


def test_stalled_bodies_hold_no_thread(start: Any, settings_here: Settings,
                                       redis_client: redis.Redis) -> None:  # fmt: skip
    """Issue 10 finding 2: more clients stalled mid-body than the receiver has threads; a real
    receipt still gets 200 and /healthz answers well inside the body timeout, and each stalled
    client gets 408 and its connection closed when the timeout is up."""
    running = start(PINRELAY_WEBHOOK_BODY_TIMEOUT=str(BODY_TIMEOUT_S))
    stalled = [_stall(running.port) for _ in range(STALLED)]
    try:
        # Give the stalled requests a head start (no outcome is awaited: the bound below holds
        # however long this is, and without it /healthz could simply be served first).
        time.sleep(0.3)
        t0 = time.monotonic()
        health = requests.get(running.base + "/healthz", timeout=BODY_TIMEOUT_S)
        t_health = time.monotonic() - t0
        receipt = {"messageId": "0AREAL", "status": "delivered"}
        answer = requests.post(running.base + RECEIPT_PATH, data=receipt, timeout=BODY_TIMEOUT_S)
        t_receipt = time.monotonic() - t0
        assert health.status_code == 200 and answer.status_code == 200
        assert t_health < 1.0 and t_receipt < 1.0, (t_health, t_receipt)
        stream = f"{settings_here.key_prefix}receipts"
        assert [f[b"messageId"] for _, f in redis_client.xrange(stream)] == [b"0AREAL"]
        replies = []
        for sock in stalled:
            data = b""
            while chunk := sock.recv(4096):  # until the receiver closes the connection
                data += chunk
            replies.append(data.split(b"\r\n", 1)[0])
        assert set(replies) == {b"HTTP/1.1 408 Request Timeout"}
        assert time.monotonic() - t0 < BODY_TIMEOUT_S + 5
    finally:
        for sock in stalled:
            sock.close()


def test_chunked_body_cut_off_is_400_and_not_queued(start: Any, settings_here: Settings,
                                                   redis_client: redis.Redis) -> None:  # fmt: skip
    """Issue 10 finding 7: a chunk announced as 30 bytes, 21 sent, then the client's side closes:
    400, and no `status=de` on the stream."""
    running = start()
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    sock.sendall(b"POST " + RECEIPT_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"1e\r\nmessageId=0ACUT&status=de")  # fmt: skip
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    sock.close()
    assert reply.split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request", reply
    assert redis_client.xlen(f"{settings_here.key_prefix}receipts") == 0


def test_metrics_can_move_to_a_port_of_their_own(start: Any) -> None:
    """PINRELAY_WEBHOOK_METRICS=<port>: /metrics is gone from the receipt port and served there,
    adding up the receiver's workers."""
    metrics_port = free_port()
    running = start(PINRELAY_WEBHOOK_METRICS=str(metrics_port))
    assert requests.get(running.base + "/metrics", timeout=5).status_code == 404
    moved = wait_for(lambda: _get(f"http://127.0.0.1:{metrics_port}/metrics"), 10, "metrics on their port")
    assert moved.status_code == 200 and 'pinrelay_webhook_requests_total{status="404"}' in moved.text


def test_metrics_can_be_switched_off(start: Any) -> None:
    """PINRELAY_WEBHOOK_METRICS=off: no /metrics anywhere."""
    running = start(PINRELAY_WEBHOOK_METRICS="off")
    assert requests.get(running.base + "/metrics", timeout=5).status_code == 404


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.RequestException:
        return None
