"""Stopping a supervisor's children for sure: SIGTERM to all at once, SIGKILL after the grace.

Each child of :class:`worker.local.supervisor.Stack` runs in a session of its own (a Ctrl-C
meant for ``pinrelay up`` must not reach Celery's pool processes mid-call). So a stop signal to
``up``'s process group reaches ``up`` alone, and ``up`` stops them: SIGTERM to every leader at
once (Celery's warm shutdown, the servers' graceful stop), then waits for all of them together,
at most the grace; whoever is still running then, and whatever a child's exit left behind in
its session (granian runs in a process group of its own inside the launcher's session), gets
SIGKILL. A second stop signal skips the rest of the wait (issue 23 finding 8: before, `up`
stopped one child after another with 30 s each, and a hung one held it for ever).

Sessions are found in ``/proc`` (Linux, where pinrelay runs): field 6 of ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Final

POLL_S: Final = 0.05


def session_members(sid: int) -> list[int]:
    """Every live process whose session id is ``sid`` (its leader included)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            # after "pid (comm)": state ppid pgrp session ...
            if len(fields) > 3 and int(fields[3]) == sid and fields[0] != b"Z":
                found.append(int(entry.name))
    return found


def kill_session(sid: int) -> int:
    """SIGKILL to every process of session ``sid``; how many there were."""
    members = session_members(sid)
    for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(members)


def stop_together(processes: Sequence[subprocess.Popen[bytes]], grace_s: float,
                  hurry: threading.Event | None = None) -> list[int]:
    """SIGTERM to each leader, wait for all within ``grace_s`` (or until ``hurry`` is set), then
    SIGKILL to the session of each one still running; the pids that had to be killed. Every
    session is swept once its leader is gone, so nothing it started outlives it."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + grace_s
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        if hurry is not None and hurry.is_set():
            break
        time.sleep(POLL_S)
    killed = [p.pid for p in processes if p.poll() is None]
    for process in processes:
        kill_session(process.pid)  # the leader if it overstayed, and whatever it left behind
    for process in processes:
        process.wait()
    return killed
