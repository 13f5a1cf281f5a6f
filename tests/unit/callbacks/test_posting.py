"""One callback POST is bounded by its wall-clock deadline, not by a timeout per read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from worker.callbacks.posting import DeadlineExceeded, post
from worker.enqueue.callback_url import CallbackTarget


def _serve(answer: bytes, pause_s: float) -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while not request.endswith(b"\r\n\r\n{}"):  # the whole request (its body is "{}")
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            for byte in answer:
                if stop.wait(pause_s):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


@pytest.fixture
def trickling() -> Iterator[int]:
    """A receiver that answers one byte every 0.2 s: no single read ever waits long."""
    yield from _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0.2)


@pytest.fixture
def prompt() -> Iterator[int]:
    yield from _serve(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 0.0)


def _target(port: int) -> CallbackTarget:
    return CallbackTarget(f"http://127.0.0.1:{port}/hook", "http", "127.0.0.1", port, ("127.0.0.1",))


def test_a_trickling_receiver_is_cut_off_at_the_deadline(trickling: int) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"no answer within 0\.6 s"):
        post(_target(trickling), b"{}", {"Content-Type": "application/json"}, deadline_s=0.6)
    assert time.monotonic() - started < 1.5


def test_a_prompt_receiver_answers_its_status(prompt: int) -> None:
    assert post(_target(prompt), b"{}", {"Content-Type": "application/json"}, deadline_s=5) == 204
