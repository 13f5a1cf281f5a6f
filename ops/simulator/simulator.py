"""Simulator: the fake provider as one object, for tests, the demo and benchmarks.

::

    with Simulator(SimConfig(dlr_url=receiver_url)) as sim:
        ...point the client at sim.url...
        sim.configure(script=("http:503*2",))
        assert sim.wait_receipts_idle(5)
        assert sim.stats()["accepted"] == 1

Everything the HTTP control endpoints offer is here as a method too.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from .config import SimConfig
from .http.exchange import Answer, Inbound
from .http.routes import Routes
from .http.server import SimHTTPServer
from .ledger import Ledger
from .receipts.dispatcher import Dispatcher
from .vonage.conversions import Conversions
from .vonage.provider import Provider

POLL_INTERVAL_S = 0.05  # how quickly serve_forever notices stop()


class Simulator:
    """A provider on ``host:port`` (0 = a free port); :meth:`start` serves in a daemon thread."""

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self._initial = config or SimConfig()
        self._config = self._initial
        self._stopping = threading.Event()
        self._ledger = Ledger(self._initial.record_limit)
        self._dispatcher = Dispatcher(
            lambda: self._config, self._initial.dlr_senders, self._initial.record_limit
        )
        self._provider = Provider(lambda: self._config, self._ledger, self._dispatcher, self._stopping)
        self._conversions = Conversions(lambda: self._config, self._ledger)
        self._provider.load(self._config, scripts=True, reseed=True)
        self._conversions.load(self._config)
        self._server = SimHTTPServer((host, port), Routes(self))
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------
    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8090``; the 2FA call is ``url + /sc/us/2fa/json``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Simulator:
        if self._thread is None:
            self._dispatcher.start()
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL_S},
                name="sim-http",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop serving, end open connections and hangs, stop the dispatcher (bounded time)."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout_s)
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
        self._dispatcher.stop(timeout_s)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- knobs ---------------------------------------------------------------------------
    @property
    def config(self) -> SimConfig:
        return self._config

    def configure(self, **knobs: Any) -> SimConfig:
        """Change knobs at run time; ``script``/``conversion_script`` replace what is left."""
        new = self._config.with_knobs(**knobs)
        self._config = new
        self._provider.load(new, scripts="script" in knobs, reseed="seed" in knobs)
        if "conversion_script" in knobs:
            self._conversions.load(new)
        return new

    def reset(self, *, keep_config: bool = False) -> None:
        """Forget requests, receipts, conversions and counts; restore the initial knobs."""
        if not keep_config:
            self._config = self._initial
        self._dispatcher.reset()
        self._ledger.reset(self._config.record_limit)
        self._provider.reset()
        self._provider.load(self._config, scripts=True, reseed=True)
        self._conversions.load(self._config)

    # --- what happened ----------------------------------------------------------------------
    def requests(self) -> list[dict[str, Any]]:
        """Every 2FA request, recorded on arrival: params (PIN included), method, content_type,
        arrived, then status, http_status, message_id, fault, outcome ("pending" until answered)."""
        return self._ledger.requests()

    def stats(self) -> dict[str, Any]:
        return dict(
            self._ledger.stats(),
            receipts=self._dispatcher.stats(),
            script_remaining=self._provider.remaining_script(),
            conversion_script_remaining=self._conversions.remaining_script(),
        )

    def receipts(self) -> list[dict[str, Any]]:
        return self._dispatcher.records()

    def conversions(self) -> list[dict[str, Any]]:
        return self._ledger.conversions()

    def accepted_count(self, to: str, pin: str, client_ref: str | None = None) -> int:
        """How often this exact (to, pin, client-ref) was accepted: 2 means a PIN went twice."""
        return self._ledger.accepted_count(to, pin, client_ref)

    def wait_receipts_idle(self, timeout: float = 10.0) -> bool:
        """Block until no receipt is scheduled, queued or being pushed; False on timeout."""
        return self._dispatcher.wait_idle(timeout)

    # --- called by the routes -------------------------------------------------------------
    def submit(self, inbound: Inbound, fmt: str = "json") -> Answer:
        return self._provider.submit(inbound, fmt)

    def convert(self, inbound: Inbound) -> Answer:
        return self._conversions.handle(inbound)
