"""HTTP load on loopback: Debian's ``wrk`` with a Lua script, or a Python fallback.

Both send the same pool of requests in order (each item once, wrapping around
only if the pool runs out) over ``connections`` keep-alive connections for a
fixed time, and count 200 ``{"status":"ok"}`` answers (queued), 200
``{"status":"duplicate"}`` answers (a replayed nonce), other statuses and
socket errors separately. The Python generator is asyncio on one core: use it
where wrk is missing (a bare CI machine); its rates are far below wrk's.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from pinrelay_ops.bench.receipt_pool import PoolItem, raw_request, write_lines
from pinrelay_ops.bench.stats import Latency, rate

WRK_TIMEOUT: Final = "5s"  # per-request timeout inside wrk (a timeout counts as an error)
PY_READ_LIMIT: Final = 1 << 16

WRK_SCRIPT: Final = r"""
-- args: pool file. One thread: the pool is sent in order, each item once.
ok, dup, bad = 0, 0, 0
local reqs, n, i = {}, 0, 0
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args)
  local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  for line in io.lines(args[1]) do
    local method, target, body = line:match("^(%u+)\t([^\t]*)\t(.*)$")
    if method == "POST" then
      reqs[#reqs + 1] = wrk.format("POST", target, form, body)
    else
      reqs[#reqs + 1] = wrk.format("GET", target)
    end
  end
  n = #reqs
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function response(status, headers, body)
  if status == 200 then
    if body:find("duplicate", 1, true) then dup = dup + 1 else ok = ok + 1 end
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local o, d, b = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); d = d + t:get("dup"); b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"ok":%d,"duplicate":%d,"bad":%d,' ..
    '"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, o, d, b, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    requests: int  # completed requests
    seconds: float
    ok: int  # 200 and queued
    duplicate: int  # 200 for a replayed nonce (not queued again)
    bad_status: int  # any other status
    socket_errors: int  # connect/read/write errors and timeouts
    latency: Latency

    @property
    def rate(self) -> float:
        return rate(self.requests, self.seconds)

    @property
    def errors(self) -> int:
        return self.bad_status + self.socket_errors


def choose_tool(preference: str) -> str:
    """``wrk`` when asked for or available (``auto``), else ``python``."""
    if preference == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if preference == "wrk":
        raise FileNotFoundError("wrk is not installed (apt-get install wrk)")
    return "python"


def run_load(tool: str, base_url: str, items: list[PoolItem], seconds: int, connections: int) -> LoadResult:
    if tool == "wrk":
        return run_wrk(base_url, items, seconds, connections)
    return asyncio.run(run_python(base_url, items, seconds, connections))


def run_wrk(base_url: str, items: list[PoolItem], seconds: int, connections: int) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="pinrelay-wrk-") as tmp:
        script, pool = Path(tmp) / "receipts.lua", Path(tmp) / "pool.txt"
        script.write_text(WRK_SCRIPT)
        write_lines(items, pool)
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", WRK_TIMEOUT,
                "-s", str(script), base_url, "--", str(pool)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCHJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[:300]}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    return LoadResult(
        tool="wrk", requests=data["requests"], seconds=data["duration_us"] / 1e6, ok=data["ok"],
        duplicate=data["duplicate"], bad_status=data["bad"], socket_errors=data["socket_errors"],
        latency=Latency(data["p50_us"] / 1000, data["p99_us"] / 1000, data["requests"]),
    )


class _Tally:
    def __init__(self, requests: list[bytes]) -> None:
        self.requests = requests
        self.next = 0
        self.ok = self.duplicate = self.bad = self.socket_errors = 0
        self.latencies: list[float] = []

    def take(self) -> bytes:
        request = self.requests[self.next % len(self.requests)]
        self.next += 1
        return request


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


async def _one_connection(host: str, port: int, tally: _Tally, deadline: float) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < deadline:
        if writer is None or reader is None:
            try:
                reader, writer = await asyncio.open_connection(host, port, limit=PY_READ_LIMIT)
            except OSError:
                tally.socket_errors += 1
                await asyncio.sleep(0.01)
                continue
        started = time.perf_counter()
        try:
            writer.write(tally.take())
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(_content_length(head))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            tally.socket_errors += 1
            writer.close()
            reader = writer = None
            continue
        tally.latencies.append(time.perf_counter() - started)
        if head[9:12] != b"200":
            tally.bad += 1
        elif b"duplicate" in body:
            tally.duplicate += 1
        else:
            tally.ok += 1
        if b"connection: close" in head.lower():
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run_python(base_url: str, items: list[PoolItem], seconds: int, connections: int) -> LoadResult:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    tally = _Tally([raw_request(item, f"{host}:{port}") for item in items])
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(_one_connection(host, port, tally, deadline) for _ in range(connections)))
    elapsed = time.monotonic() - started
    done = len(tally.latencies)
    return LoadResult(
        tool="python", requests=done, seconds=elapsed, ok=tally.ok, duplicate=tally.duplicate,
        bad_status=tally.bad, socket_errors=tally.socket_errors,
        latency=Latency.of_seconds(tally.latencies),
    )
