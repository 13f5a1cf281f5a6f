"""Children's output on the supervisor's own stream, each line marked with its component.

`pinrelay up` runs the receiver, the correlator, the worker (and the simulator) as
child processes; an operator must see what they say, crashes included. Each child's
stdout and stderr go into one pipe; a thread per child copies complete lines to the
supervisor's stream: ``worker     | <line>`` with console logs, or, with JSON logs, the
child's JSON object with a ``component`` field added (a line that is not JSON, say a
crash's traceback, becomes ``{"event": "output", "component": ..., "line": ...}``), so
the combined stream stays one JSON object per line.
"""

from __future__ import annotations

import datetime
import json
import threading
from typing import IO, Any, TextIO

__all__ = ["Relay"]

_NAME_WIDTH = 10


class Relay:
    """Copies lines from children's pipes onto ``stream``; safe to share between children."""

    def __init__(self, stream: TextIO, *, json_lines: bool) -> None:
        self._stream = stream
        self._json = json_lines
        self._lock = threading.Lock()

    def format(self, component: str, raw: bytes) -> str | None:
        """One output line for a child's ``raw`` line (None for a blank one)."""
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text.strip():
            return None
        if not self._json:
            return f"{component:<{_NAME_WIDTH}} | {text}"
        try:
            event: Any = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
            event = {"event": "output", "line": text, "level": "info", "timestamp": now}
        return json.dumps({"component": component, **event})

    def write(self, component: str, raw: bytes) -> None:
        line = self.format(component, raw)
        if line is None:
            return
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass  # our own output went away (a closed terminal): the child must not block

    def follow(self, component: str, pipe: IO[bytes], copy_to: IO[bytes] | None = None) -> threading.Thread:
        """Start a daemon thread relaying ``pipe`` until EOF (and appending it to ``copy_to``)."""

        def run() -> None:
            with pipe:
                for raw in iter(pipe.readline, b""):
                    if copy_to is not None and not copy_to.closed:
                        copy_to.write(raw)
                        copy_to.flush()
                    self.write(component, raw)

        thread = threading.Thread(target=run, name=f"relay-{component}", daemon=True)
        thread.start()
        return thread
