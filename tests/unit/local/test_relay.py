"""Children's lines on `up`'s output: prefixed with the component, or JSON with a component field."""

from __future__ import annotations

import io
import json
import os

from worker.local.relay import Relay


def test_console_lines_are_prefixed_with_the_component() -> None:
    """Console logs: ``name | line``, blank lines dropped."""
    relay = Relay(io.StringIO(), json_lines=False)
    assert relay.format("webhook", b"[INFO] Listening\n") == "webhook    | [INFO] Listening"
    assert relay.format("webhook", b"\n") is None


def test_json_lines_get_a_component_and_other_text_is_wrapped() -> None:
    """JSON logs: the child's object gains ``component``; a traceback line becomes an ``output`` event."""
    relay = Relay(io.StringIO(), json_lines=True)
    event = json.loads(relay.format("worker", b'{"event": "ready", "level": "info"}\n') or "")
    assert event == {"component": "worker", "event": "ready", "level": "info"}
    wrapped = json.loads(relay.format("worker", b"Traceback (most recent call last):\n") or "")
    assert (wrapped["component"], wrapped["event"], wrapped["line"]) == (
        "worker", "output", "Traceback (most recent call last):")


def test_follow_copies_a_pipe_until_it_closes() -> None:
    """A followed pipe's lines all reach the stream (and the copy file) once the writer closes it."""
    out = io.StringIO()
    copy = io.BytesIO()
    read_fd, write_fd = os.pipe()
    thread = Relay(out, json_lines=False).follow("sim", os.fdopen(read_fd, "rb"), copy)
    with os.fdopen(write_fd, "wb") as writer:
        writer.write(b"one\ntwo\n")
    thread.join(timeout=5)
    assert out.getvalue() == "sim        | one\nsim        | two\n"
    assert copy.getvalue() == b"one\ntwo\n"
