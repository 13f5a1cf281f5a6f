"""The simulated provider: the 2FA submit and the conversion call, with injected faults.

Order for a submit: record the arrival, add ``latency_ms``, take the next
fault (script first, then ``error_rates``), apply the throughput limit, run
the param checks (checks.py), then accept: issue a message-id, debit the
balance, and plan the receipts. ``hang`` and ``close:sent`` faults still
accept the send, so a client that gave up may have sent a PIN after all.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from .. import faults
from ..config import SimConfig
from ..http import params
from ..http.exchange import DROP, Answer, Inbound
from ..ledger import Ledger
from ..receipts.dispatcher import Dispatcher
from ..receipts.dlr import AcceptedSend, plan
from ..throttle import SlidingWindow
from . import responses
from .checks import check_submission, unknown_params

GARBAGE_HTML: Final = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"


class Provider:
    """Answers submits and conversions; ``config`` is read afresh on every call."""

    def __init__(
        self,
        config: Callable[[], SimConfig],
        ledger: Ledger,
        dispatcher: Dispatcher,
        stopping: threading.Event,
    ) -> None:
        self._config = config
        self._ledger = ledger
        self._dispatcher = dispatcher
        self._stopping = stopping
        self._lock = threading.Lock()
        self._script: deque[faults.Fault] = deque()
        self._window = SlidingWindow(0)
        self._ids = responses.MessageIds()
        self._spent = Decimal(0)
        self._rng = random.Random(config().seed)

    def load(self, config: SimConfig, *, scripts: bool, reseed: bool) -> None:
        """With ``scripts``, replace the remaining fault script; with ``reseed``, take the seed."""
        if reseed and config.seed is not None:
            self._rng.seed(config.seed)
        if scripts:
            with self._lock:
                self._script = deque(faults.expand(config.script))

    def reset(self) -> None:
        with self._lock:
            self._spent = Decimal(0)
            self._window = SlidingWindow(0)

    def remaining_script(self) -> list[str]:
        """The scripted faults not yet used, as specs."""
        with self._lock:
            return [f.spec for f in self._script]

    # --- 2FA submit ------------------------------------------------------------------
    def submit(self, inbound: Inbound, fmt: str = "json") -> Answer:
        config = self._config()
        got = params.parse(inbound.query, inbound.content_type, inbound.body)
        record: dict[str, Any] = {
            "params": got,
            "method": inbound.method,
            "content_type": inbound.content_type,
            "path": inbound.path,
            "arrived": inbound.arrived,
            "unknown_params": unknown_params(got),
            "fault": None,
            "status": None,
            "http_status": None,
            "message_id": None,
            "outcome": "pending",
        }
        self._ledger.record_arrival(record)
        if config.latency_ms:
            self._stopping.wait(config.latency_ms / 1000)
        fault = self._next_fault(config)
        answer = self._answer(got, config, fault, fmt, record)
        record["http_status"] = None if answer.close else answer.status
        record["outcome"] = _outcome(record, answer)
        self._ledger.record_outcome(record)
        return answer

    def _next_fault(self, config: SimConfig) -> faults.Fault | None:
        with self._lock:
            if self._script:
                return self._script.popleft()
        return faults.pick(config.error_rates, self._rng)

    def _answer(
        self,
        got: dict[str, str],
        config: SimConfig,
        fault: faults.Fault | None,
        fmt: str,
        record: dict[str, Any],
    ) -> Answer:
        render = responses.render_xml if fmt == "xml" else responses.render_json
        content_type = "text/xml" if fmt == "xml" else "application/json"
        if fault is not None:
            record["fault"] = fault.spec
            early = self._fault_answer(fault, got, config, render, content_type, record)
            if early is not None:
                return early
        message = self._decide(got, config)
        record["status"] = message["status"]
        record["message_id"] = message.get("message-id")
        if fault is not None and fault.kind == "close":
            return DROP
        return Answer(200, render(message), content_type)

    def _fault_answer(
        self,
        fault: faults.Fault,
        got: dict[str, str],
        config: SimConfig,
        render: Callable[[dict[str, str]], bytes],
        content_type: str,
        record: dict[str, Any],
    ) -> Answer | None:
        """The answer a fault imposes, or None to go on processing (hang, close:sent)."""
        if fault.kind == "hang":
            self._stopping.wait(float(fault.arg))
            return None
        if fault.processes_send:
            return None
        if fault.kind == "close":
            return DROP
        if fault.kind == "http":
            return Answer.text(f"simulated HTTP {fault.arg}", int(fault.arg))
        if fault.kind == "429":
            retry_after = (("Retry-After", fault.arg),)
            return Answer(429, b"", "text/plain", headers=retry_after)
        if fault.kind == "garbage":
            return Answer(200, GARBAGE_HTML, "text/html; charset=utf-8")
        status = fault.arg
        text = (
            responses.throttle_text(config.throttle_wait_ms)
            if status == "1"
            else responses.error_text(status)
        )
        record["status"] = status
        message = responses.error_message(status, text, got.get("to"), got.get("client-ref"))
        return Answer(200, render(message), content_type)

    def _decide(self, got: dict[str, str], config: SimConfig) -> dict[str, str]:
        """The ``messages[0]`` of a submit that reached the provider's own checks."""
        to, client_ref = got.get("to"), got.get("client-ref")
        with self._lock:
            self._window.limit = config.rate_limit_per_s
            wait_ms = self._window.admit(time.monotonic())
        if wait_ms is not None:
            return responses.error_message("1", responses.throttle_text(wait_ms), to, client_ref)
        refusal = check_submission(got, config)
        if refusal is not None:
            return responses.error_message(refusal.status, refusal.text, to, client_ref)
        balance = self._debit(config)
        if balance is None:
            return responses.error_message("9", responses.error_text("9"), to, client_ref)
        assert to is not None
        message_id = self._ids.next()
        self._ledger.record_accepted(to, got["pin"], client_ref, message_id)
        if config.dlr_url:
            self._fire_receipts(message_id, to, client_ref, config)
        return responses.accepted_message(
            to, message_id, balance, config.message_price, config.network, client_ref
        )

    def _debit(self, config: SimConfig) -> str | None:
        """The balance left after charging one message, or None when credit is short."""
        try:
            price, start = Decimal(config.message_price), Decimal(config.balance)
        except InvalidOperation:
            price, start = Decimal("0.0333"), Decimal(100)
        with self._lock:
            if start - self._spent < price:
                return None
            self._spent += price
            return f"{start - self._spent:.8f}"

    def _fire_receipts(self, message_id: str, to: str, client_ref: str | None, config: SimConfig) -> None:
        send = AcceptedSend(message_id, to, client_ref, config.api_key, config.message_price, config.network)
        chain = plan(send, config, self._rng)
        if config.receipt_before_response:
            self._dispatcher.deliver_now(chain)
            return
        delay = config.dlr_delay_s + self._rng.uniform(0, config.dlr_jitter_s)
        self._dispatcher.submit(chain, delay)


def _outcome(record: dict[str, Any], answer: Answer) -> str:
    """The stats key: ``status:N`` for a JSON answer, ``http:N``, ``close`` or ``garbage``."""
    if answer.close:
        return "close"
    if record["fault"] == "garbage":
        return "garbage"
    if answer.status != 200:
        return f"http:{answer.status}"
    return f"status:{record['status']}"
