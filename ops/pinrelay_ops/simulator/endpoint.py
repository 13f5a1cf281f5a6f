"""One provider route's request pipeline, the same for every route; the route's rules plug in.

Order for a request: record its arrival (tagged with the route), add
``latency_ms``, take the next fault (a fault of its recipient's in ``number_faults``,
else the route's script, then its ``error_rates``), apply the route's throughput limit, then let the route's
:class:`Dialect` check and accept it. ``hang`` and ``close:sent`` faults still
accept the send, so a client that gave up may have sent a PIN after all.

The dialect speaks the provider's language (Vonage status codes in HTTP 200
bodies, Twilio error JSON with HTTP statuses); the faults that have no
provider wording (``http:N``, ``429``, ``close``, ``garbage``) are answered here
unless the dialect words them itself.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from . import faults
from .config import SimConfig
from .errors import SimulatorError
from .http.exchange import DROP, Answer, Inbound
from .ledger import Ledger
from .throttle import SlidingWindow

GARBAGE_HTML: Final = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
Record = dict[str, Any]


class Dialect(Protocol):
    """A provider route's own rules: parsing, wording faults, checking and accepting a send."""

    route: str

    def parse(self, inbound: Inbound) -> dict[str, str]: ...
    def unknown_params(self, got: Mapping[str, str]) -> list[str]: ...
    def fault_answer(
        self, fault: faults.Fault, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record
    ) -> Answer | None: ...
    def throttled(
        self, inbound: Inbound, got: dict[str, str], wait_ms: int, config: SimConfig, record: Record
    ) -> Answer: ...
    def handle(self, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record) -> Answer: ...


class Endpoint:
    """A route's fault script and throughput window around its dialect; config is read per request."""

    def __init__(
        self,
        dialect: Dialect,
        config: Callable[[], SimConfig],
        ledger: Ledger,
        stopping: threading.Event,
        pick: Callable[[Mapping[str, float]], faults.Fault | None],
    ) -> None:
        self.route = dialect.route
        self._dialect = dialect
        self._config = config
        self._ledger = ledger
        self._stopping = stopping
        self._pick = pick
        self._lock = threading.Lock()
        self._script: deque[faults.Fault] = deque()
        self._window = SlidingWindow(0)

    def load_script(self, config: SimConfig) -> None:
        """Replace the faults still to come with this route's ``script``."""
        with self._lock:
            self._script = deque(faults.expand(config.for_route(self.route).script))

    def reset(self) -> None:
        with self._lock:
            self._window = SlidingWindow(0)

    def remaining_script(self) -> list[str]:
        """The scripted faults not yet used, as specs."""
        with self._lock:
            return [f.spec for f in self._script]

    def submit(self, inbound: Inbound) -> Answer:
        config = self._config().for_route(self.route)
        got = self._dialect.parse(inbound)
        record: Record = {
            "route": self.route,
            "params": got,
            "method": inbound.method,
            "content_type": inbound.content_type,
            "path": inbound.path,
            "arrived": inbound.arrived,
            "unknown_params": self._dialect.unknown_params(got),
            "validity_s": None,  # the request's validity period in seconds (receipts/expiry.py)
            "fault": None,
            "status": None,
            "http_status": None,
            "message_id": None,
            "accepted": False,
            "outcome": "pending",
        }
        self._ledger.record_arrival(record)
        if config.latency_ms:
            self._stopping.wait(config.latency_ms / 1000)
        fault = self._next_fault(config, got)
        answer = self._answer(inbound, got, config, fault, record)
        record["http_status"] = None if answer.close else answer.status
        record["outcome"] = outcome(record, answer)
        self._ledger.record_outcome(record)
        return answer

    def _next_fault(self, config: SimConfig, got: Mapping[str, str]) -> faults.Fault | None:
        recipient = str(got.get("To") or got.get("to") or "").removeprefix("+")
        if recipient in config.number_faults:
            return faults.parse(config.number_faults[recipient])[0]
        with self._lock:
            if self._script:
                return self._script.popleft()
        return self._pick(config.error_rates)

    def _answer(
        self,
        inbound: Inbound,
        got: dict[str, str],
        config: SimConfig,
        fault: faults.Fault | None,
        record: Record,
    ) -> Answer:
        if fault is not None:
            record["fault"] = fault.spec
            if fault.kind == "hang":
                self._stopping.wait(float(fault.arg))
            elif not fault.processes_send:
                worded = self._dialect.fault_answer(fault, inbound, got, config, record)
                return worded if worded is not None else generic_fault_answer(fault)
        with self._lock:
            self._window.limit = config.rate_limit_per_s
            wait_ms = self._window.admit(time.monotonic())
        if wait_ms is not None:
            answer = self._dialect.throttled(inbound, got, wait_ms, config, record)
        else:
            answer = self._dialect.handle(inbound, got, config, record)
        if fault is not None and fault.kind == "close":
            return DROP
        return answer


def generic_fault_answer(fault: faults.Fault) -> Answer:
    """The answer of a fault no provider words: a proxy's or the network's doing."""
    if fault.kind == "close":
        return DROP
    if fault.kind == "http":
        return Answer.text(f"simulated HTTP {fault.arg}", int(fault.arg))
    if fault.kind == "429":
        return Answer(429, b"", "text/plain", headers=(("Retry-After", fault.arg or "1"),))
    if fault.kind == "garbage":
        return Answer(200, GARBAGE_HTML, "text/html; charset=utf-8")
    raise SimulatorError(f"fault {fault.spec!r} must be worded by the route")


def outcome(record: Record, answer: Answer) -> str:
    """The stats key: ``close``, ``garbage``, ``status:N`` when the provider answered N, else ``http:N``."""
    if answer.close:
        return "close"
    if record["fault"] == "garbage":
        return "garbage"
    if record["status"] is not None:
        return f"status:{record['status']}"
    return f"http:{answer.status}"
