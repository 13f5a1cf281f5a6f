"""Optional sampling profiles of the processes under test, with py-spy.

``python -m pinrelay_ops.bench --profile DIR`` attaches ``py-spy record --gil`` to
the main process of each scenario (and its children) for the measured phase
only, writes the collapsed stacks to ``DIR/<label>.txt`` and keeps three
summaries: where the samples were (self time, by function), which of
pinrelay's own functions they were under (inclusive), and which package held
the CPU. ``--gil`` keeps only threads holding the GIL, so the profile is Python
CPU: time blocked on a socket waiting for Redis or the provider is not in it
(the bench counts Redis commands per operation for that).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from worker.errors import ConfigError

SAMPLE_RATE_HZ: Final = 100
TOP: Final = 10
OWN_PACKAGES: Final = ("worker/", "webhook/", "pinrelay_ops/")
# frames every sample passes through (entry points, the bench itself): not a cost of their own
ENTRY_FRAMES: Final = ("<module> ", "main ", "cmd_", "_run_one ", "run_bench ")
BENCH_PACKAGE: Final = "worker/bench/"
STOP_TIMEOUT_S: Final = 30.0

Summary = list[tuple[str, float]]  # (name, percent of samples)


def py_spy_binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """Records labelled profiles into ``out_dir``."""

    def __init__(self, out_dir: Path) -> None:
        binary = py_spy_binary()
        if binary is None:
            raise ConfigError("--profile needs py-spy (pip install py-spy)")
        self.binary = binary
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def record(self, label: str, pid: int, sink: MutableMapping[str, Summary]) -> Iterator[None]:
        """Sample ``pid`` and its children while the block runs; summaries go into ``sink``."""
        path = self.out_dir / f"{label}.txt"
        argv = [self.binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil",
                "--rate", str(SAMPLE_RATE_HZ), "--format", "raw", "--output", str(path)]
        log = (self.out_dir / f"{label}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=log)
        try:
            yield
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        if path.exists():
            stacks = read_collapsed(path)
            sink[f"{label}:self"] = self_time(stacks)
            sink[f"{label}:ours"] = inclusive_own(stacks)
            sink[f"{label}:package"] = by_package(stacks)


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    """``frame;frame;... count`` lines as (frames without the process frame, count)."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        text, _, count = line.rpartition(" ")
        if not text or not count.isdigit():
            continue
        frames = [f for f in text.split(";") if not f.startswith(("process ", "thread "))]
        stacks.append((frames, int(count)))
    return stacks


def _function(frame: str) -> str:
    """``name (path/file.py:12)`` -> ``name (path/file.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def _file(frame: str) -> str:
    _, _, where = frame.partition(" (")
    return where.rsplit(":", 1)[0]


def _share(counter: Counter[str], total: int) -> Summary:
    return [(name, 100.0 * n / total) for name, n in counter.most_common(TOP)] if total else []


def self_time(stacks: list[tuple[list[str], int]]) -> Summary:
    counter: Counter[str] = Counter()
    for frames, count in stacks:
        if frames:
            counter[_function(frames[-1])] += count
    return _share(counter, sum(c for _, c in stacks))


def inclusive_own(stacks: list[tuple[list[str], int]]) -> Summary:
    """pinrelay's own functions, each counted once per sample it appears in."""
    counter: Counter[str] = Counter()
    for frames, count in stacks:
        own = {_function(f) for f in frames if _file(f).startswith(OWN_PACKAGES)
               and not _file(f).startswith(BENCH_PACKAGE) and not f.startswith(ENTRY_FRAMES)}
        for name in own:
            counter[name] += count
    return _share(counter, sum(c for _, c in stacks))


def by_package(stacks: list[tuple[list[str], int]]) -> Summary:
    """Self time by the leaf frame's top-level package (``redis``, ``kombu``, ``json``...)."""
    counter: Counter[str] = Counter()
    for frames, count in stacks:
        if frames:
            where = _file(frames[-1])
            counter[where.split("/", 1)[0] if "/" in where else where] += count
    return _share(counter, sum(c for _, c in stacks))
