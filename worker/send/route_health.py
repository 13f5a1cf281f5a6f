"""Each route's delivery success rate from its receipts, and every route's state as people read it.

The correlator calls :meth:`RouteHealth.record` after each batch: every receipt that
made a send final (``delivered``, or ``failed``/``rejected``/``expired``/``unknown``)
counts for the route that sent it, over its last :data:`~worker.send.routes.base.WINDOW`
receipts (``worker/lua/route_receipts.lua``); with at least
:data:`~worker.send.routes.base.MIN_RECEIPTS` and a delivered share below
``PINRELAY_ROUTE_MIN_SUCCESS`` the route is ``degraded`` and new sends prefer the next
healthy route. :func:`route_status` is what ``pinrelay routes`` prints and the
``pinrelay_route_state`` metric shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

import redis

from worker import lua
from worker.config import Settings
from worker.records.view import iso
from worker.send.routes.base import KEY_ROUTE, MIN_RECEIPTS, WINDOW
from worker.states import FINAL_STATES, RECEIPT_STATES, State
from worker.text import to_text

ROUTE_RECEIPTS: Final = lua.script("route_receipts")
#: receipt statuses that end a send: delivered counts 1, the rest 0 (an unknown status is `unknown`)
FINAL_RECEIPTS: Final = frozenset(s.value for s in RECEIPT_STATES & FINAL_STATES)
_RECEIPTS: Final = frozenset(s.value for s in RECEIPT_STATES)
#: pinrelay_route_state values
STATE_VALUES: Final = {"closed": 0, "degraded": 1, "half_open": 2, "open": 3}


class RouteHealth:
    """Counts final receipts per route (the correlator's hook after each batch)."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self._settings = settings
        self._script = client.register_script(ROUTE_RECEIPTS)

    def record(self, payloads: Sequence[str], verdicts: Sequence[str]) -> int:
        """Count the receipts of a correlated batch (receipt JSON, and its verdict) that were applied."""
        args: list[str] = []
        for payload, verdict in zip(payloads, verdicts, strict=False):
            if verdict != "applied":
                continue
            try:
                receipt = json.loads(payload)
            except ValueError:
                continue
            status = str(receipt.get("status", "")).lower()
            outcome = "1" if status == State.DELIVERED else "0"
            if (status in FINAL_RECEIPTS or status not in _RECEIPTS) and receipt.get("messageId"):
                args += [str(receipt["messageId"]), outcome]
        if not args:
            return 0
        settings = self._settings
        return int(self._script(keys=[], args=[
            settings.key_prefix, settings.key_prefix + KEY_ROUTE, f"{time.time():.3f}", WINDOW, MIN_RECEIPTS,
            settings.route_min_success, *args,
        ]))


def route_status(client: redis.Redis, settings: Settings, names: Iterable[str] | None = None,
                 now: float | None = None) -> list[dict[str, Any]]:
    """Every route's breaker, delivery rate and denylist size, in failover order."""
    moment = time.time() if now is None else now
    out = []
    for name in names or settings.routes:
        key = settings.key_prefix + KEY_ROUTE + name
        raw = {to_text(k): to_text(v) for k, v in client.hgetall(key).items()}
        n, good = int(raw.get("window_n", 0)), int(raw.get("window_ok", 0))
        state = raw.get("state", "closed")
        open_until = float(raw.get("open_until") or 0)
        health = raw.get("health", "healthy")
        out.append({
            "route": name,
            "state": state,
            "shown_as": "degraded" if state == "closed" and health == "degraded" else state,
            "reason": raw.get("reason"),
            "changed_at": iso(raw.get("changed_at")),
            "open_until": iso(open_until) if state == "open" else None,
            "probe_ready": state != "closed" and moment >= open_until,
            "last_error": raw.get("last_error"),
            "times_opened": int(raw.get("opened", 0)),
            "health": health,
            "health_changed_at": iso(raw.get("health_changed_at")),
            "delivery": {"receipts": n, "delivered": good,
                         "success_rate": round(good / n, 4) if n else None},
            "denylisted": int(client.scard(key + ":deny")),
            "countries": country_breakers(client, key, moment),
        })
    return out


def country_breakers(client: redis.Redis, route_key: str, now: float) -> dict[str, dict[str, Any]]:
    """The route's (route, country) breakers with something on record, by region code."""
    raw = {to_text(k): to_text(v) for k, v in client.hgetall(route_key + ":cc").items()}
    out: dict[str, dict[str, Any]] = {}
    for field, value in raw.items():
        country, _, name = field.partition(":")
        out.setdefault(country, {})[name] = value
    shown = {}
    for country, fields in sorted(out.items()):
        open_until = float(fields.get("open_until") or 0)
        state = "closed" if not open_until else "open" if now < open_until else "half_open"
        shown[country] = {"state": state, "refusals_in_a_row": int(fields.get("run") or 0),
                          "reason": fields.get("reason"),
                          "open_until": iso(open_until) if open_until else None,
                          "last_error": fields.get("last_error")}
    return shown


def state_value(status: dict[str, Any]) -> int:
    """``pinrelay_route_state``: 0 closed, 1 degraded, 2 half-open, 3 open."""
    return STATE_VALUES.get(str(status["shown_as"]), 3)
