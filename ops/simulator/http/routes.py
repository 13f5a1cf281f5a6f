"""The route table: the provider's own URLs plus the ``/_sim/*`` control endpoints.

Control endpoints (JSON in and out):

=========================  ========================================================
``GET  /_sim/requests``    every 2FA request received, PIN included (a test fake)
``GET  /_sim/stats``       counts by outcome and fault, receipts, accepted calls
``GET  /_sim/receipts``    every receipt: fields, transport, attempts, last status
``GET  /_sim/conversions`` every conversion call
``GET  /_sim/config``      the knobs in force (secrets masked)
``POST /_sim/config``      JSON object of knobs to change; 400 names a bad one
``POST /_sim/reset``       forget everything; ``{"keep_config": true}`` keeps knobs
``GET  /_sim/health``      ``{"ok": true}``
=========================  ========================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, Protocol

from ..config import SimConfig
from ..errors import SimConfigError
from .exchange import Answer, Inbound

TWOFA_JSON: Final = "/sc/us/2fa/json"
TWOFA_XML: Final = "/sc/us/2fa/xml"
CONVERSIONS: Final = "/conversions/sms"


class Control(Protocol):
    """What the routes need from the simulator (see simulator.Simulator)."""

    @property
    def config(self) -> SimConfig: ...
    def submit(self, inbound: Inbound, fmt: str) -> Answer: ...
    def convert(self, inbound: Inbound) -> Answer: ...
    def configure(self, **knobs: Any) -> SimConfig: ...
    def reset(self, *, keep_config: bool = False) -> None: ...
    def requests(self) -> list[dict[str, Any]]: ...
    def stats(self) -> dict[str, Any]: ...
    def receipts(self) -> list[dict[str, Any]]: ...
    def conversions(self) -> list[dict[str, Any]]: ...


Handler = Callable[[Inbound], Answer]


class Routes:
    """Callable: ``Inbound`` -> ``Answer``; 404 for unknown paths, 405 for wrong methods."""

    def __init__(self, sim: Control) -> None:
        self._sim = sim
        both = ("GET", "POST")
        self._table: dict[str, tuple[tuple[str, ...], Handler]] = {
            TWOFA_JSON: (both, lambda i: sim.submit(i, "json")),
            TWOFA_XML: (both, lambda i: sim.submit(i, "xml")),
            CONVERSIONS: (both, sim.convert),  # 405 for GET comes from the conversion logic
            "/_sim/requests": (("GET",), lambda i: Answer.json(sim.requests())),
            "/_sim/stats": (("GET",), lambda i: Answer.json(sim.stats())),
            "/_sim/receipts": (("GET",), lambda i: Answer.json(sim.receipts())),
            "/_sim/conversions": (("GET",), lambda i: Answer.json(sim.conversions())),
            "/_sim/health": (("GET",), lambda i: Answer.json({"ok": True})),
            "/_sim/reset": (("POST",), self._reset),
            "/_sim/config": (both, self._config),
        }

    def __call__(self, inbound: Inbound) -> Answer:
        route = self._table.get(inbound.path.rstrip("/") or "/")
        if route is None:
            return Answer.json({"error": f"no route {inbound.path}"}, 404)
        methods, handler = route
        if inbound.method not in methods:
            return Answer.json({"error": f"{inbound.method} not allowed"}, 405)
        return handler(inbound)

    def _reset(self, inbound: Inbound) -> Answer:
        body = _json_object(inbound.body)
        if body is None:
            return Answer.json({"error": "body must be a JSON object"}, 400)
        self._sim.reset(keep_config=bool(body.get("keep_config", False)))
        return Answer.json({"ok": True})

    def _config(self, inbound: Inbound) -> Answer:
        if inbound.method == "POST":
            knobs = _json_object(inbound.body)
            if knobs is None:
                return Answer.json({"error": "body must be a JSON object of knobs"}, 400)
            try:
                self._sim.configure(**knobs)
            except (SimConfigError, TypeError) as exc:
                return Answer.json({"error": str(exc)}, 400)
        return Answer.json(self._sim.config.to_dict())


def _json_object(body: bytes) -> dict[str, Any] | None:
    """An empty body is ``{}``; anything but a JSON object is None."""
    if not body.strip():
        return {}
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None
