"""The acceptance spool: provider acceptances the worker could not yet write to Redis.

Once the provider has accepted a PIN, its message-id is the one fact that must not be
lost: without it the send ends ``unconfirmed`` and an operator may replay it, texting the
user twice. :func:`worker.send.delivery.deliver` retries the write until the claim lease
runs out; an acceptance it still cannot write is kept here, in a file of this process
(fsynced), and written by a background thread as soon as Redis answers again.

One file per process under ``{runtime dir}/spool/{key prefix}/``, held with ``flock`` for
the process's life. A process that finds a file nobody holds (its process died) adopts
the entries, so a killed worker's acceptances are recorded by the next one that starts.
Each line is a JSON object: ``{"op": "keep", "id", "mid", "fields"}`` or
``{"op": "done", "id"}``; a torn last line (a crash mid-write) is skipped. Replaying an
entry twice is harmless: recording ``submitted`` again changes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import redis

from worker.records.store import RecordStore
from worker.states import State

RETRY_EVERY_S: Final = 1.0  # how often the background thread tries Redis again
SUFFIX: Final = ".spool"


@dataclass
class _Entry:
    message_id: str
    fields: dict[str, str]
    task_owned: bool  # the task is still retrying the write itself


def spool_dir(runtime_dir: str, key_prefix: str) -> Path:
    """Per deployment (key prefix), so two deployments on one machine never swap entries."""
    return Path(runtime_dir) / "spool" / (re.sub(r"[^A-Za-z0-9_.-]", "_", key_prefix) or "_")


class AcceptanceSpool:
    """Thread-safe; ``directory=None`` keeps entries in memory only (still retried)."""

    def __init__(self, directory: Path | None, store: RecordStore, log: Any,
                 *, retry_every_s: float = RETRY_EVERY_S) -> None:
        self._dir = directory
        self._store = store
        self._log = log
        self._every = retry_every_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._file: IO[str] | None = None
        self._path: Path | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- what the send path calls ------------------------------------------------------
    def keep(self, request_id: str, message_id: str, fields: Mapping[str, str]) -> None:
        """Remember an acceptance not yet in Redis (on disk before this returns)."""
        with self._lock:
            self._entries[request_id] = _Entry(message_id, dict(fields), task_owned=True)
            self._append({"op": "keep", "id": request_id, "mid": message_id, "fields": dict(fields)})

    def done(self, request_id: str) -> None:
        """The acceptance is in Redis now."""
        with self._lock:
            if self._entries.pop(request_id, None) is not None:
                self._append({"op": "done", "id": request_id}, sync=False)
            if not self._entries:
                self._release()

    def hand_over(self, request_id: str) -> None:
        """The task gives up writing: the background thread records it when Redis is back."""
        with self._lock:
            entry = self._entries.get(request_id)
            if entry is not None:
                entry.task_owned = False
        self._kick()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    # --- recording ---------------------------------------------------------------------
    def replay(self) -> int:
        """Write every handed-over entry; stops at the first Redis error. Returns how many are left."""
        with self._lock:
            todo = [(rid, e) for rid, e in self._entries.items() if not e.task_owned]
        for rid, entry in todo:
            try:
                state = self._store.finish(rid, State.SUBMITTED, message_id=entry.message_id,
                                           fields=entry.fields)
            except redis.RedisError:
                break
            self._log.warning("acceptance_recorded_from_spool", request_id=rid,
                              message_id=entry.message_id, state=state)
            self.done(rid)
        return self.pending

    def recover(self) -> int:
        """Adopt the entries of spool files whose process is gone; start recording them."""
        if self._dir is None or not self._dir.is_dir():
            return 0
        adopted = 0
        for path in sorted(self._dir.glob(f"*{SUFFIX}")):
            if path != self._path:
                adopted += self._adopt(path)
        for path in self._dir.glob("*.tmp"):  # a process died between creating and naming it
            self._adopt(path)
        if adopted:
            self._log.warning("spool_adopted", entries=adopted, directory=str(self._dir))
            self._kick()
        return adopted

    def close(self) -> None:
        """Stop the thread and release the file; entries left in it wait for the next process."""
        self._stop.set()
        with self._lock:
            if self._entries:
                if self._file is not None:
                    self._file.close()
                    self._file, self._path = None, None
            else:
                self._release()

    def _release(self) -> None:
        """Nothing left to record: remove the file (and the directory if it is empty now)."""
        if self._file is None or self._path is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self._path)
        self._file.close()
        self._file, self._path = None, None
        if self._dir is not None:
            with contextlib.suppress(OSError):
                self._dir.rmdir()  # fails while another process has a file in it

    # --- internals ---------------------------------------------------------------------
    def _kick(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="pinrelay-spool", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if self.replay() == 0:
                    return
            except Exception as exc:  # never let the thread die with entries left
                self._log.error("spool_replay_failed", error=f"{type(exc).__name__}: {exc}")

    def _adopt(self, path: Path) -> int:
        try:
            handle = open(path, "r+")  # noqa: SIM115 - closed below
        except OSError:
            return 0
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return 0  # its process is alive and holds it
            entries = _fold(handle.read())
            with self._lock:
                for rid, entry in entries.items():
                    self._entries[rid] = entry
                    self._append({"op": "keep", "id": rid, "mid": entry.message_id, "fields": entry.fields})
            with contextlib.suppress(OSError):
                os.unlink(path)
        return len(entries)

    def _append(self, record: dict[str, Any], *, sync: bool = True) -> None:
        """One JSON line in this process's file (created, locked, on first use)."""
        if self._dir is None:
            return
        try:
            if self._file is None:
                self._file, self._path = _open_own(self._dir)
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()
            if sync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            self._log.error("spool_write_failed", directory=str(self._dir), error=str(exc),
                            note="the acceptance is kept in memory only")


def _open_own(directory: Path) -> tuple[IO[str], Path]:
    """A new file, locked before it gets its ``.spool`` name (so no one adopts it half made)."""
    name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = directory / f"{name}.tmp"
    for last in (False, True):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o600)
            break
        except FileNotFoundError:  # another process removed the empty directory meanwhile
            if last:
                raise
    fcntl.flock(fd, fcntl.LOCK_EX)
    final = directory / f"{name}{SUFFIX}"
    os.rename(tmp, final)
    return os.fdopen(fd, "a"), final


def _fold(text: str) -> dict[str, _Entry]:
    """The entries still open after replaying a file's lines in order."""
    entries: dict[str, _Entry] = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
            rid = str(record["id"])
            if record["op"] == "keep":
                entries[rid] = _Entry(str(record["mid"]), dict(record["fields"]), task_owned=False)
            else:
                entries.pop(rid, None)
        except (ValueError, KeyError, TypeError):
            continue  # a torn line from a crash mid-write
    return entries
