"""Clients that stall mid-body cannot stop the receiver (issue 10 finding 2).

Before round 2 each stalled body held one of granian's WSGI threads with no timeout: 64
connections that sent headers and half a body blocked both workers, `/healthz` included,
until the clients gave up. Now bodies are collected by the event loop under
PINRELAY_WEBHOOK_BODY_TIMEOUT (webhook/front.py, webhook/rsgi.py).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from tests.reliability.figures import Figures
from tests.support.receiver import receivers
from tests.support.settings import cleanup, isolated_settings
from webhook.app import RECEIPT_PATH
from worker import constants as c
from worker.config import Settings

STALLED = 48  # more than the 32 threads a receiver worker process once ran the app on
BODY_TIMEOUT_S = 2.0


def _stall(port: int) -> socket.socket:
    """A connection that sends its headers and 26 of the 200 body bytes it announces, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT_S + 10)
    sock.sendall(b"POST " + RECEIPT_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"
                 b"messageId=0A1&status=deliv")
    return sock


@pytest.fixture
def settings_here(redis_url: str) -> Iterator[Settings]:
    configured = isolated_settings(redis_url)
    yield configured
    client = redis.Redis.from_url(redis_url)
    cleanup(client, configured)
    client.close()


def test_stalled_bodies_hold_no_thread(settings_here: Settings, redis_client: redis.Redis, tmp_path: Path,
                                       figures: Figures) -> None:
    """More clients stalled mid-body than the receiver worker has threads: a real receipt still
    gets 200 and /healthz answers well inside the body timeout, and each stalled client gets
    408 and its connection closed once the timeout is up."""
    with receivers(settings_here, tmp_path) as start:
        running = start(PINRELAY_WEBHOOK_BODY_TIMEOUT=str(BODY_TIMEOUT_S))
        stalled = [_stall(running.port) for _ in range(STALLED)]
        try:
            # Give the stalled requests a head start (no outcome is awaited: the bound below
            # holds however long this is, and without it /healthz could simply be served first).
            time.sleep(0.3)
            t0 = time.monotonic()
            health = requests.get(running.base + "/healthz", timeout=BODY_TIMEOUT_S)
            t_health = time.monotonic() - t0
            receipt = {"messageId": "0AREAL", "status": "delivered"}
            answer = requests.post(running.base + RECEIPT_PATH, data=receipt, timeout=BODY_TIMEOUT_S)
            t_receipt = time.monotonic() - t0
            assert health.status_code == 200 and answer.status_code == 200
            assert t_health < 1.0 and t_receipt < 1.0, (t_health, t_receipt)
            stream = f"{settings_here.key_prefix}{c.KEY_RECEIPTS_STREAM}"
            assert [f[b"messageId"] for _, f in redis_client.xrange(stream)] == [b"0AREAL"]
            replies = []
            for sock in stalled:
                data = b""
                while chunk := sock.recv(4096):  # until the receiver closes the connection
                    data += chunk
                replies.append(data.split(b"\r\n", 1)[0])
            t_closed = time.monotonic() - t0
        finally:
            for sock in stalled:
                sock.close()
    figures.add("stalled bodies", f"{STALLED} connections send headers and 26 of 200 body bytes, then "
                f"stall; 1 receiver worker (a coroutine per request), body timeout {BODY_TIMEOUT_S:g} s",
                sent=1, lost=0, duplicated=0,
                measured=f"/healthz in {t_health * 1000:.0f} ms, a real receipt 200 in "
                f"{t_receipt * 1000:.0f} ms; all {STALLED} stalled got 408 and were closed "
                f"{t_closed:.1f} s after")
    assert set(replies) == {b"HTTP/1.1 408 Request Timeout"}
    assert t_closed < BODY_TIMEOUT_S + 5
