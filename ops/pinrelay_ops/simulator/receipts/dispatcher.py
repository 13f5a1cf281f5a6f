"""The receipt dispatcher: one scheduler thread, a few sender threads, retries with backoff.

The scheduler keeps a heap of (due time, receipt) and hands due receipts to
the senders through a queue; each sender owns a keep-alive ``requests.Session``.
A push succeeds on HTTP 200-205; anything else (other statuses, connection
errors, timeouts) is retried after ``dlr_retry_initial_s`` doubling up to
``dlr_retry_max_s``, and abandoned once the next try would fall outside
``dlr_retry_window_s`` from the first push (docs/provider-api.md §4), or once a receipt
with ``max_attempts`` (a Twilio callback) has used them up. Each push is signed
afresh unless ``dlr_resign_retries`` is off: a retry then re-sends the first push's
signed payload and headers byte for byte. Nothing here raises into the server:
every failure is recorded on the receipt and counted.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests

from ..config import SimConfig
from .payload import json_body, payload_for
from .receipt import Receipt

_SUCCESS = range(200, 206)


class Dispatcher:
    """Start with :meth:`start`; :meth:`stop` returns within ``timeout_s``."""

    def __init__(
        self, config: Callable[[], SimConfig], senders: int = 4, record_limit: int = 200_000
    ) -> None:
        self._config = config
        self._senders = senders
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Receipt]] = []
        self._queue: queue.SimpleQueue[Receipt | None] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._generation = 0
        self._outstanding = 0  # receipts of this generation not yet acknowledged/abandoned
        self._in_flight = 0  # pushes running now, of any generation
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._records: deque[Receipt] = deque(maxlen=record_limit)  # newest kept
        self._counts = dict.fromkeys(
            ("fired", "pushes", "acknowledged", "retried", "abandoned", "failed_pushes"), 0
        )

    # --- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        self._threads = [threading.Thread(target=self._schedule, name="sim-dlr-scheduler")]
        self._threads += [
            threading.Thread(target=self._send_loop, name=f"sim-dlr-sender-{n}") for n in range(self._senders)
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for _ in range(self._senders):
            self._queue.put(None)
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # --- submitting ---------------------------------------------------------------
    def submit(self, chain: list[Receipt], delay_s: float) -> None:
        """Push ``chain[0]`` after ``delay_s``; each follower goes after its leader's first push."""
        with self._cond:
            self._register(chain)
            self._push_heap(chain[0], time.monotonic() + delay_s)

    def deliver_now(self, chain: list[Receipt]) -> None:
        """First push of every receipt in ``chain`` in the calling thread (receipt before response).

        Retries, if any are needed, go through the background senders as usual.
        """
        with self._cond:
            self._register(chain)
        with requests.Session() as session:
            for receipt in chain:
                self._attempt(session, receipt, follow=False)

    def schedule(
        self, chain: list[Receipt], config: SimConfig, rng: random.Random, delay_s: float | None = None
    ) -> None:
        """Push ``chain`` as the route's knobs say: now (receipt before response) or after the delay
        (``delay_s`` when the route already drew it, see ``receipts/expiry.py``)."""
        if not chain:
            return
        if config.receipt_before_response:
            self.deliver_now(chain)
            return
        self.submit(chain, delivery_delay(config, rng) if delay_s is None else delay_s)

    def _register(self, chain: list[Receipt]) -> None:
        for receipt in chain:
            receipt.id = next(self._ids)
            receipt.generation = self._generation
            self._records.append(receipt)
        self._outstanding += len(chain)

    def _push_heap(self, receipt: Receipt, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), receipt))
        self._cond.notify_all()

    # --- threads ----------------------------------------------------------------------
    def _schedule(self) -> None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    receipt = heapq.heappop(self._heap)[2]
                    if receipt.generation == self._generation:
                        self._queue.put(receipt)
                wait = self._heap[0][0] - now if self._heap else None
                self._cond.wait(wait)

    def _send_loop(self) -> None:
        with requests.Session() as session:
            while (receipt := self._queue.get()) is not None:
                self._attempt(session, receipt, follow=True)

    # --- one push ----------------------------------------------------------------------
    def _attempt(self, session: requests.Session, receipt: Receipt, *, follow: bool) -> None:
        config = self._config()
        with self._cond:
            if receipt.generation != self._generation or self._stopping:
                return
            self._in_flight += 1
            receipt.state = "in_flight"
            self._counts["fired" if receipt.attempts == 0 else "retried"] += 1
            self._counts["pushes"] += 1
            receipt.attempts += 1
            now = time.time()
            if receipt.first_attempt_mono is None:
                receipt.first_attempt_mono, receipt.first_attempt_at = time.monotonic(), now
            receipt.last_attempt_at = now
            try:
                if receipt.attempts > 1 and receipt.sent and not config.dlr_resign_retries:
                    payload, headers = receipt.sent, receipt.sent_headers  # the stored signed request
                else:
                    payload, headers = payload_for(receipt, config)
            except Exception as exc:  # a bad signing config must not kill a sender
                payload, headers, receipt.last_error = dict(receipt.fields), {}, repr(exc)
        status, error = _push(session, receipt, payload, headers, config)
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()
            if receipt.generation != self._generation:
                return
            receipt.sent, receipt.sent_headers = payload, headers
            receipt.last_http_status, receipt.last_error = status, error
            self._settle(receipt, status, config)
            if follow and receipt.attempts == 1 and receipt.follower is not None:
                self._push_heap(receipt.follower, time.monotonic() + config.dlr_gap_s)

    def _settle(self, receipt: Receipt, status: int | None, config: SimConfig) -> None:
        if status in _SUCCESS:
            receipt.state = "acknowledged"
            self._counts["acknowledged"] += 1
            self._outstanding -= 1
            return
        self._counts["failed_pushes"] += 1
        retryable = status is None or status >= 500 or status == 429 or config.dlr_retry_4xx
        backoff = config.dlr_retry_initial_s * 2 ** (receipt.attempts - 1)
        delay = min(backoff, config.dlr_retry_max_s)
        first = receipt.first_attempt_mono or time.monotonic()
        in_window = time.monotonic() + delay - first <= config.dlr_retry_window_s
        attempts_left = receipt.max_attempts is None or receipt.attempts < receipt.max_attempts
        if retryable and in_window and attempts_left:
            receipt.state = "retrying"
            self._push_heap(receipt, time.monotonic() + delay)
        else:
            receipt.state = "abandoned"
            self._counts["abandoned"] += 1
            self._outstanding -= 1

    # --- inspection --------------------------------------------------------------------
    def wait_idle(self, timeout_s: float) -> bool:
        """True once nothing is scheduled, queued or being pushed; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._outstanding > 0 or self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def records(self) -> list[dict[str, Any]]:
        with self._cond:
            return [receipt.to_dict() for receipt in self._records]

    def stats(self) -> dict[str, int]:
        with self._cond:
            return dict(self._counts, pending=self._outstanding, in_flight=self._in_flight)

    def reset(self) -> None:
        """Forget every receipt; scheduled ones are cancelled, running pushes are disowned."""
        with self._cond:
            self._generation += 1
            self._heap.clear()
            self._records.clear()
            self._outstanding = 0
            self._counts = dict.fromkeys(self._counts, 0)
            self._cond.notify_all()


def delivery_delay(config: SimConfig, rng: random.Random) -> float:
    """Seconds from an accepted send to its first receipt: ``dlr_delay_s`` plus up to ``dlr_jitter_s``
    (0 when receipts go before the response)."""
    if config.receipt_before_response:
        return 0.0
    return config.dlr_delay_s + rng.uniform(0, config.dlr_jitter_s)


def _push(
    session: requests.Session,
    receipt: Receipt,
    payload: dict[str, Any],
    headers: dict[str, str],
    config: SimConfig,
) -> tuple[int | None, str | None]:
    """``(http status, None)`` or ``(None, error name)``; never raises."""
    timeout = (config.dlr_connect_timeout_s, config.dlr_read_timeout_s)
    try:
        if receipt.transport == "get":
            response = session.get(receipt.url, params=payload, headers=headers, timeout=timeout)
        elif receipt.transport == "form":
            response = session.post(receipt.url, data=payload, headers=headers, timeout=timeout)
        else:
            body, json_headers = json_body(payload), {**headers, "Content-Type": "application/json"}
            response = session.post(receipt.url, data=body, headers=json_headers, timeout=timeout)
        with response:
            return response.status_code, None
    except requests.RequestException as exc:
        return None, type(exc).__name__
    except Exception as exc:  # the dispatcher must never take the server down
        return None, repr(exc)
