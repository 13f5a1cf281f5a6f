"""A slow callback receiver must not stop PIN delivery (issue 23 finding 2).

Before, ``pinrelay.deliver_callback`` ran on the send queue in the send workers' processes, with a
timeout per socket read only: a receiver that trickles a byte every few seconds held a worker
process for as long as it liked, and four such callbacks held both processes (ordinary sends
stayed ``queued`` for 30 s and more). Now every task that is not a provider send runs on the
callbacks queue in a pool of its own, and each attempt ends at its wall-clock deadline.

Here: 20 sends whose ``callback_url`` is a tarpit (it reads the POST, then answers one byte of
its status line every 2 s, for ever) end at once (the provider refuses the number), so 20
callbacks are due together; ordinary sends made meanwhile must each be submitted within 2 s, and
every callback attempt must be cut off at the deadline, not held open by the trickle.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pinrelay_ops.simulator import Simulator
from tests.reliability.figures import Figures
from tests.support.api import CALLBACK_SECRET
from tests.support.live import StartLive
from tests.support.waiting import wait_for
from worker import constants as c

pytestmark = pytest.mark.slow

TARPITS = 20
ORDINARY = 10
WITHIN_S = 2.0
TRICKLE_S = 2.0
REFUSED = "16365550177"  # the simulator refuses it (status 3): the send ends, its callback is due


class Tarpit:
    """An HTTP server that reads each request, then sends its answer one byte per TRICKLE_S."""

    def __init__(self) -> None:
        self.attempts: list[tuple[float, float | None]] = []  # (connected, the client gave up) per POST
        self._lock = threading.Lock()
        self._stop = threading.Event()
        tarpit = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with tarpit._lock:
                    index = len(tarpit.attempts)
                    tarpit.attempts.append((time.monotonic(), None))
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" * 100:
                    if tarpit._stop.wait(TRICKLE_S):
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        break
                with tarpit._lock:
                    tarpit.attempts[index] = (tarpit.attempts[index][0], time.monotonic())

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                         daemon=True)
        self._thread.start()

    def ended(self) -> list[float]:
        """How long each finished attempt was held before the client closed it (plus up to one trickle)."""
        with self._lock:
            return [end - start for start, end in self.attempts if end is not None]

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    server = Tarpit()
    try:
        yield server
    finally:
        server.close()


def test_tarpit_callbacks_do_not_delay_sends(live_stacks: StartLive, redis_url: str, sim: Simulator,
                                             tarpit: Tarpit, figures: Figures) -> None:
    """20 tarpit callbacks due at once; 10 ordinary sends, one after another, each submitted within
    2 s; the callback attempts are cut at the deadline (10 s), never held by the trickle."""
    sim.configure(number_faults={REFUSED: "status:3"})
    live = live_stacks(redis_url, sim, receiver=True, callbacks=True, callback_secret=CALLBACK_SECRET,
                       callback_allow_private=True)
    doomed = [live.producer.send_pin(REFUSED, f"5050{i:02d}", f"tarpit-{i}", callback_url=tarpit.url)
              for i in range(TARPITS)]
    for rid in doomed:
        live.wait_state(rid, {"error"}, timeout=30)
    wait_for(lambda: len(tarpit.attempts) >= 2, 30, "the first callbacks to reach the tarpit")
    took = []
    for i in range(ORDINARY):
        started = time.monotonic()
        rid = live.producer.send_pin(f"1636555{4400 + i}", f"6060{i:02d}", f"ordinary-{i}")
        live.wait_state(rid, {"submitted", "delivered"}, timeout=60)
        took.append(time.monotonic() - started)
    held = wait_for(lambda: (ended := tarpit.ended()) and len(ended) >= 2 and ended,
                    c.CALLBACK_DEADLINE_S + 3 * TRICKLE_S + 10, "callback attempts to be cut off")
    figures.add("tarpit callbacks", f"{TARPITS} sends whose callback_url trickles one byte every "
                f"{TRICKLE_S:g} s, due at once; {ORDINARY} ordinary sends one after another",
                sent=TARPITS + ORDINARY, lost=0, duplicated=0,
                measured=f"ordinary sends submitted in median {statistics.median(took):.2f} s, slowest "
                f"{max(took):.2f} s; callback attempts held {min(held):.1f}-{max(held):.1f} s "
                f"(deadline {c.CALLBACK_DEADLINE_S:g} s)")
    assert max(took) < WITHIN_S, took
    # cut at the deadline: the tarpit notices within two of its bytes (the first may still go out)
    assert max(held) < c.CALLBACK_DEADLINE_S + 2 * TRICKLE_S + 2.0, held
    assert '"callback_retry"' in live.worker_log() and f"no answer within {c.CALLBACK_DEADLINE_S:g} s" in \
        live.worker_log()
