"""The route table: the providers' own URLs plus the ``/_sim/*`` control endpoints.

Provider URLs (each one of the simulator's routes, named as in ``PINRELAY_ROUTES``):

==============================================================  ==========  =======
``GET|POST /sc/us/2fa/json``, ``/sc/us/2fa/xml``                2FA         sc2fa
``GET|POST /sms/json``                                          SMS API     sms
``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``        Twilio      twilio
``POST /v1/messages``                                           Messages    messages
``POST /conversions/sms``                                       Conversion  (none)
==============================================================  ==========  =======

Control endpoints (JSON in and out):

==============================  ========================================================
``GET  /_sim/requests``         every request received, PIN included (a test fake);
                                ``?route=sms`` keeps one route's
``GET  /_sim/stats``            counts by outcome and fault, in total and per route
``GET  /_sim/receipts``         every receipt and status callback: fields, attempts, status
``GET  /_sim/conversions``      every conversion call
``GET  /_sim/config``           the knobs in force (secrets masked)
``GET  /_sim/messages-application``  the Messages API application: ``application_id``,
                                ``public_key`` and, for the demo key pair, ``private_key`` (PEM)
``POST /_sim/config``           JSON object of knobs to change; with ``"route": "sms"``
                                the other knobs override that route only; 400 names a bad one
``POST /_sim/reset``            forget everything; ``{"keep_config": true}`` keeps knobs
``GET  /_sim/health``           ``{"ok": true}``
==============================  ========================================================

With a ``control_token`` (``PINRELAY_SIM_CONTROL_TOKEN``) every control endpoint but
``/_sim/health`` answers 401 unless the request carries ``Authorization: Bearer <token>``;
``pinrelay sim`` refuses a non-loopback ``--host`` without one (``ops/pinrelay_ops/simulator/cli.py``).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any, Final, Protocol
from urllib.parse import parse_qs

from ..config import SimConfig
from ..errors import SimConfigError
from .exchange import Answer, Inbound

TWOFA_JSON: Final = "/sc/us/2fa/json"
TWOFA_XML: Final = "/sc/us/2fa/xml"
CONVERSIONS: Final = "/conversions/sms"
SMS_JSON: Final = "/sms/json"
MESSAGES: Final = "/v1/messages"
TWILIO_PREFIX: Final = "/2010-04-01/Accounts/"
TWILIO_SUFFIX: Final = "/Messages.json"


def twilio_account_sid(path: str) -> str | None:
    """The ``{AccountSid}`` of a Twilio create-message path, or None when ``path`` is not one."""
    if not (path.startswith(TWILIO_PREFIX) and path.endswith(TWILIO_SUFFIX)):
        return None
    sid = path[len(TWILIO_PREFIX) : -len(TWILIO_SUFFIX)]
    return sid if sid and "/" not in sid else None


class Control(Protocol):
    """What the routes need from the simulator (see simulator.Simulator)."""

    @property
    def config(self) -> SimConfig: ...
    def handle(self, route: str, inbound: Inbound) -> Answer: ...
    def convert(self, inbound: Inbound) -> Answer: ...
    def configure(self, route: str | None = None, **knobs: Any) -> SimConfig: ...
    def reset(self, *, keep_config: bool = False) -> None: ...
    def requests(self, route: str | None = None) -> list[dict[str, Any]]: ...
    def stats(self) -> dict[str, Any]: ...
    def receipts(self) -> list[dict[str, Any]]: ...
    def conversions(self) -> list[dict[str, Any]]: ...
    def messages_application(self) -> dict[str, Any]: ...


Handler = Callable[[Inbound], Answer]


class Routes:
    """Callable: ``Inbound`` -> ``Answer``; 404 for unknown paths, 405 for wrong methods."""

    def __init__(self, sim: Control) -> None:
        self._sim = sim
        both = ("GET", "POST")
        self._table: dict[str, tuple[tuple[str, ...], Handler]] = {
            TWOFA_JSON: (both, lambda i: sim.handle("sc2fa", i)),
            TWOFA_XML: (both, lambda i: sim.handle("sc2fa", i)),
            SMS_JSON: (both, lambda i: sim.handle("sms", i)),
            MESSAGES: (("POST",), lambda i: sim.handle("messages", i)),
            CONVERSIONS: (both, sim.convert),  # 405 for GET comes from the conversion logic
            "/_sim/requests": (("GET",), self._requests),
            "/_sim/stats": (("GET",), lambda i: Answer.json(sim.stats())),
            "/_sim/receipts": (("GET",), lambda i: Answer.json(sim.receipts())),
            "/_sim/conversions": (("GET",), lambda i: Answer.json(sim.conversions())),
            "/_sim/health": (("GET",), lambda i: Answer.json({"ok": True})),
            "/_sim/messages-application": (("GET",), lambda i: Answer.json(sim.messages_application())),
            "/_sim/reset": (("POST",), self._reset),
            "/_sim/config": (both, self._config),
        }

    def __call__(self, inbound: Inbound) -> Answer:
        route = self._table.get(inbound.path.rstrip("/") or "/")
        if route is None and twilio_account_sid(inbound.path) is not None:
            route = (("POST",), lambda i: self._sim.handle("twilio", i))
        if route is None:
            return Answer.json({"error": f"no route {inbound.path}"}, 404)
        methods, handler = route
        if not self._may_control(inbound):
            return Answer(401, b'{"error": "control endpoints need Authorization: Bearer <token>"}',
                          headers=(("WWW-Authenticate", 'Bearer realm="pinrelay-sim"'),))
        if inbound.method not in methods:
            return Answer.json({"error": f"{inbound.method} not allowed"}, 405)
        return handler(inbound)

    def _may_control(self, inbound: Inbound) -> bool:
        """Provider URLs and /_sim/health always; the rest only with the token, if one is set."""
        token = self._sim.config.control_token
        if not token or not inbound.path.startswith("/_sim/") or inbound.path.rstrip("/") == "/_sim/health":
            return True
        given = inbound.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def _requests(self, inbound: Inbound) -> Answer:
        route = parse_qs(inbound.query).get("route", [None])[0]
        return Answer.json(self._sim.requests(route))

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
            if "control_token" in knobs:
                return Answer.json({"error": "control_token is set at start only"}, 400)
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
