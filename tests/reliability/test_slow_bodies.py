"""Clients that stall mid-body cannot stop the receiver (issue 10 finding 2) or the HTTP API
(issue 21).

Before round 2 each stalled body held one of granian's WSGI threads with no timeout: 64
connections that sent headers and half a body blocked both receiver workers, `/healthz`
included, until the clients gave up; the API ran that way until issue 21 (16 stalled bodies
with a valid key stopped it). Now both run on the HTTP core behind granian's RSGI front:
bodies are collected by the event loop under PINRELAY_WEBHOOK_BODY_TIMEOUT
(webhook/http/rsgi.py), and only a request whose body has arrived reaches a thread.
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
from tests.support.api import create_key
from tests.support.receiver import receivers
from tests.support.settings import cleanup, isolated_settings
from webhook.app import RECEIPT_PATH
from worker import constants as c
from worker.config import Settings
from worker.local.supervisor import Stack

STALLED = 48  # more than the 32 threads a receiver worker process once ran the app on
API_STALLED = 40  # more than the API's 16 handler threads
BODY_TIMEOUT_S = 2.0
PROMPT_S = 1.5  # what "answered promptly" means here, on a loaded machine


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


def _stall_api(port: int, key: str) -> socket.socket:
    """A `POST /v1/pins` with a valid key that sends 13 of the 200 body bytes it announces."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=BODY_TIMEOUT_S + 10)
    sock.sendall(b"POST /v1/pins HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
                 b'{"to": "16365')
    return sock


def _replies(stalled: list[socket.socket]) -> list[bytes]:
    """Each connection's status line, read until the server closes it."""
    replies = []
    for sock in stalled:
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        replies.append(data.split(b"\r\n", 1)[0])
    return replies


def test_stalled_bodies_with_a_valid_key_do_not_stop_the_api(
        settings_here: Settings, redis_client: redis.Redis, tmp_path: Path, figures: Figures) -> None:
    """`pinrelay api` with 40 connections that send a valid key and part of a body, then stall:
    /healthz and real `POST /v1/pins` are answered promptly meanwhile (each send queued), and
    each stalled request gets 408 request_timeout and its connection closed after the deadline
    (before issue 21 every handler thread waited on one, /healthz included)."""
    stack = Stack(settings_here, log_dir=tmp_path)
    stack.ensure_redis()
    try:
        key = create_key(settings_here)["key"]
        base = stack.start_api(PINRELAY_WEBHOOK_BODY_TIMEOUT=str(BODY_TIMEOUT_S))
        port = int(base.rsplit(":", 1)[1])
        stalled = [_stall_api(port, key) for _ in range(API_STALLED)]
        try:
            time.sleep(0.3)  # the stalled requests first (the bound below holds whatever this is)
            timings, ids = [], []
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {key}"
                t0 = time.monotonic()
                health = session.get(base + "/healthz", timeout=BODY_TIMEOUT_S)
                timings.append(time.monotonic() - t0)
                assert health.status_code == 200
                for i in range(5):
                    t0 = time.monotonic()
                    sent = session.post(base + "/v1/pins", json={"to": "16365553226", "pin": f"{1000 + i}"},
                                        timeout=BODY_TIMEOUT_S)
                    timings.append(time.monotonic() - t0)
                    assert sent.status_code == 202, sent.text
                    ids.append(sent.json()["id"])
                records = [session.get(f"{base}/v1/pins/{rid}", timeout=BODY_TIMEOUT_S).json() for rid in ids]
            assert max(timings) < PROMPT_S, timings
            assert [r["state"] for r in records] == ["queued"] * 5
            started = time.monotonic()
            replies = _replies(stalled)
            t_closed = time.monotonic() - started
        finally:
            for sock in stalled:
                sock.close()
    finally:
        stack.stop()
    figures.add("stalled API bodies", f"{API_STALLED} connections send a valid key and 13 of 200 body "
                f"bytes, then stall; `pinrelay api`, 1 worker, 16 handler threads, body timeout "
                f"{BODY_TIMEOUT_S:g} s",
                sent=5, lost=0, duplicated=0,
                measured=f"/healthz and 5 real sends answered in at most {max(timings) * 1000:.0f} ms; "
                f"all {API_STALLED} stalled got 408 and were closed {t_closed:.1f} s later")
    assert set(replies) == {b"HTTP/1.1 408 Request Timeout"}
    assert t_closed < BODY_TIMEOUT_S + 5
