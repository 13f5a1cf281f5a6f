"""CPU seconds and peak RSS of process trees, from the kernel's own accounting.

A :class:`ProcessMeter` samples named groups of processes (each a root pid and,
optionally, all its descendants) every ``interval_s`` in a background thread.
CPU is user + system time per process as the kernel counts it (a process that
exits keeps its last sample); peak RSS is the kernel's high-water mark
(``VmHWM``) where Linux offers it, else the largest RSS seen. Because samples
carry wall-clock times, :meth:`ProcessMeter.cpu_between` can charge a window
that starts and ends at arbitrary moments (first and last provider call, say),
which keeps start-up imports out of a per-operation figure.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped, unused-ignore]  # types-psutil (dev) when present

DEFAULT_INTERVAL_S = 0.1


@dataclass(frozen=True, slots=True)
class Target:
    """One group member: a pid, with or without its descendants."""

    pid: int
    tree: bool = True
    high_water: bool = True  # False: the largest RSS sampled, not the process's lifetime peak


@dataclass
class _Group:
    targets: list[Target]
    cpu: dict[tuple[int, float], float] = field(default_factory=dict)  # (pid, created) -> cpu s
    peak_rss: dict[tuple[int, float], int] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)


def _high_water_mark(pid: int) -> int | None:
    """``VmHWM`` of ``pid`` in bytes (Linux), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _members(target: Target) -> list[psutil.Process]:
    try:
        root = psutil.Process(target.pid)
        return [root, *root.children(recursive=True)] if target.tree else [root]
    except psutil.Error:
        return []


class ProcessMeter:
    """Use as a context manager, or :meth:`start` / :meth:`stop`."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._interval = interval_s
        self._groups: dict[str, _Group] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, name: str, targets: Iterable[Target]) -> None:
        """Add ``targets`` to group ``name`` (created on first use)."""
        with self._lock:
            self._groups.setdefault(name, _Group([])).targets.extend(targets)
        self.sample()

    def start(self) -> ProcessMeter:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="bench-meter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.sample()

    def __enter__(self) -> ProcessMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        now = time.time()
        with self._lock:
            for group in self._groups.values():
                for target in group.targets:
                    for proc in _members(target):
                        self._sample_one(group, proc, target.high_water)
                group.times.append(now)
                group.totals.append(sum(group.cpu.values()))

    @staticmethod
    def _sample_one(group: _Group, proc: psutil.Process, high_water: bool) -> None:
        try:
            key = (proc.pid, proc.create_time())
            times = proc.cpu_times()
            rss = (high_water and _high_water_mark(proc.pid)) or proc.memory_info().rss
        except psutil.Error:
            return
        group.cpu[key] = times.user + times.system
        group.peak_rss[key] = max(group.peak_rss.get(key, 0), rss)

    def cpu_s(self, name: str) -> float:
        """CPU seconds of group ``name`` from its first sample to its last."""
        with self._lock:
            group = self._groups[name]
            return group.totals[-1] - group.totals[0] if group.totals else 0.0

    def cpu_between(self, name: str, start: float, end: float) -> float:
        """CPU seconds of group ``name`` between two wall-clock times (interpolated)."""
        with self._lock:
            group = self._groups[name]
            return _at(group, end) - _at(group, start)

    def peak_rss_bytes(self, name: str) -> int:
        """The largest single-process peak RSS in group ``name``."""
        with self._lock:
            return max(self._groups[name].peak_rss.values(), default=0)

    def processes(self, name: str) -> int:
        with self._lock:
            return len(self._groups[name].cpu)


def _at(group: _Group, when: float) -> float:
    """The group's cumulative CPU at ``when``, linear between the samples around it."""
    times, totals = group.times, group.totals
    if not times:
        return 0.0
    i = bisect.bisect_left(times, when)
    if i <= 0:
        return totals[0]
    if i >= len(times):
        return totals[-1]
    t0, t1, c0, c1 = times[i - 1], times[i], totals[i - 1], totals[i]
    return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1
