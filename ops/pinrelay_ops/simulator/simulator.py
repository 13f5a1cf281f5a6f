"""Simulator: the fake providers as one object, for tests, the demo and benchmarks.

::

    with Simulator(SimConfig(dlr_url=receiver_url)) as sim:
        ...point the client at sim.url...
        sim.configure(script=("http:503*2",))             # every route's default
        sim.configure(route="twilio", error_rates={"auth": 1.0})  # one route only
        assert sim.wait_receipts_idle(5)
        assert sim.stats()["routes"]["sms"]["requests"] == 1

Four routes share one server, one ledger and one receipt dispatcher:
``sc2fa`` (Vonage short-code 2FA), ``sms`` (Vonage SMS API), ``twilio``
(Twilio Programmable Messaging) and ``messages`` (the Vonage Messages API, SMS
channel); each has its own fault script and throughput window
(:class:`~.endpoint.Endpoint`). The Messages API's application key pair is the
configured public key or a demo pair (:attr:`Simulator.demo_private_key_pem`).
Everything the HTTP control endpoints offer is here as a method too.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from . import faults
from .config import SimConfig
from .endpoint import Dialect, Endpoint
from .http.exchange import Answer, Inbound
from .http.routes import Routes
from .http.server import SimHTTPServer
from .knobs import check_route
from .ledger import Ledger
from .messages.keys import ApplicationKeys
from .messages.route import MessagesApi
from .receipts.dispatcher import Dispatcher
from .twilio.messages import TwilioMessages
from .vonage.account import Account
from .vonage.conversions import Conversions
from .vonage.sms import SmsApi
from .vonage.twofa import TwoFactor

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
        self._rng = random.Random(self._initial.seed)
        self._account = Account()
        self._keys = ApplicationKeys()
        dialects: list[Dialect] = [
            TwoFactor(self._ledger, self._dispatcher, self._account, self._rng),
            SmsApi(self._ledger, self._dispatcher, self._account, self._rng),
            TwilioMessages(self._ledger, self._dispatcher, self._rng),
            MessagesApi(self._ledger, self._dispatcher, self._account, self._rng, self._keys),
        ]
        self._endpoints = {
            d.route: Endpoint(d, lambda: self._config, self._ledger, self._stopping, self._pick)
            for d in dialects
        }
        self._conversions = Conversions(lambda: self._config, self._ledger)
        self._load_scripts(self._config, self._endpoints)
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
        """Base URL, e.g. ``http://127.0.0.1:8090``; the routes are paths below it (http/routes.py)."""
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

    @property
    def demo_private_key_pem(self) -> bytes:
        """The Messages API demo application's private key (PKCS#8 PEM), made on first use.

        Used to sign request JWTs only when no ``vonage_public_key`` is configured."""
        return self._keys.demo_private_pem()

    def messages_application(self) -> dict[str, Any]:
        """The Messages API application: ``application_id``, ``public_key``, demo ``private_key``."""
        config = self._config
        return dict(self._keys.describe(config.vonage_application_id, config.vonage_public_key))

    # --- knobs ---------------------------------------------------------------------------
    @property
    def config(self) -> SimConfig:
        return self._config

    def configure(self, route: str | None = None, **knobs: Any) -> SimConfig:
        """Change knobs at run time; ``script``/``conversion_script`` replace what is left.

        With ``route``, ``knobs`` override that route only (fault and receipt-plan
        knobs, see ``knobs.ROUTE_KNOBS``) and merge into what it overrode before.
        """
        if route is not None:
            new = self._config.with_route_knobs(check_route(route), **knobs)
            reload = [route] if "script" in knobs else []
        else:
            new = self._config.with_knobs(**knobs)
            reload = [r for r in self._endpoints if "routes" in knobs or (
                "script" in knobs and "script" not in new.routes.get(r, {}))]
        self._config = new
        self._load_scripts(new, {r: self._endpoints[r] for r in reload})
        if "seed" in knobs and new.seed is not None:
            self._rng.seed(new.seed)
        if "conversion_script" in knobs:
            self._conversions.load(new)
        return new

    def reset(self, *, keep_config: bool = False) -> None:
        """Forget requests, receipts, conversions and counts; restore the initial knobs."""
        if not keep_config:
            self._config = self._initial
        self._dispatcher.reset()
        self._ledger.reset(self._config.record_limit)
        self._account.reset()
        for endpoint in self._endpoints.values():
            endpoint.reset()
        self._load_scripts(self._config, self._endpoints)
        if self._config.seed is not None:
            self._rng.seed(self._config.seed)
        self._conversions.load(self._config)

    @staticmethod
    def _load_scripts(config: SimConfig, endpoints: dict[str, Endpoint]) -> None:
        for endpoint in endpoints.values():
            endpoint.load_script(config)

    def _pick(self, rates: Mapping[str, float]) -> faults.Fault | None:
        return faults.pick(rates, self._rng)

    # --- what happened ----------------------------------------------------------------------
    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        """Every request (or ``route``'s), recorded on arrival: route, params (PIN included), method,
        content_type, arrived, then status, http_status, message_id, accepted, fault, outcome
        ("pending" until answered). ``status`` is the provider's: "0" on Vonage, "queued" or an
        error code on Twilio."""
        return self._ledger.requests(route)

    def stats(self) -> dict[str, Any]:
        """Counts in total and under ``routes``; ``script_remaining`` is the 2FA route's."""
        data = self._ledger.stats()
        for route, endpoint in self._endpoints.items():
            data["routes"][route]["script_remaining"] = endpoint.remaining_script()
        return dict(
            data,
            receipts=self._dispatcher.stats(),
            script_remaining=self._endpoints["sc2fa"].remaining_script(),
            conversion_script_remaining=self._conversions.remaining_script(),
        )

    def receipts(self) -> list[dict[str, Any]]:
        return self._dispatcher.records()

    def conversions(self) -> list[dict[str, Any]]:
        return self._ledger.conversions()

    def accepted_count(self, to: str, pin: str, client_ref: str | None = None, route: str = "sc2fa") -> int:
        """How often this exact (to, pin, client-ref) was accepted: 2 means a PIN went twice.

        On the ``sms``, ``twilio`` and ``messages`` routes ``pin`` is the whole text (Twilio has no
        client-ref).
        """
        return self._ledger.accepted_count(to, pin, client_ref, route)

    def wait_receipts_idle(self, timeout: float = 10.0) -> bool:
        """Block until no receipt is scheduled, queued or being pushed; False on timeout."""
        return self._dispatcher.wait_idle(timeout)

    # --- called by the routes -------------------------------------------------------------
    def handle(self, route: str, inbound: Inbound) -> Answer:
        """A request on one of the provider routes (``sc2fa``, ``sms``, ``twilio``, ``messages``)."""
        return self._endpoints[route].submit(inbound)

    def convert(self, inbound: Inbound) -> Answer:
        return self._conversions.handle(inbound)
