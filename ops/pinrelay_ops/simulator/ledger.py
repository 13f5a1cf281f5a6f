"""What the simulator saw and answered: request records, outcome counts, conversions, per route.

This is a test fake, so records keep every param as received, the PIN
included: tests assert on exactly what reached the provider. Nothing here is
ever logged or printed. Every request record names its ``route`` (``sc2fa``,
``sms``, ``twilio``), and the counts exist in total and per route, so a test can
assert "the simulator received N requests on /sms/json".
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .knobs import ROUTES


@dataclass
class _RouteCounts:
    requests: int = 0
    accepted: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "outcomes": dict(self.outcomes),
            "faults": dict(self.faults),
        }


class Ledger:
    """Thread-safe records; the newest ``record_limit`` requests are kept, counts are exact."""

    def __init__(self, record_limit: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._record_limit = record_limit
        self._requests: deque[dict[str, Any]] = deque(maxlen=record_limit)
        self._conversions: list[dict[str, Any]] = []
        self._outcomes: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        # (route, to, pin or text, client-ref) -> times accepted
        self._accepted: Counter[tuple[str, str, str, str]] = Counter()
        self._message_ids: set[str] = set()
        self._routes = {route: _RouteCounts() for route in ROUTES}
        self._total = 0

    def record_arrival(self, record: dict[str, Any]) -> None:
        """A request as it arrives (``outcome`` "pending"), so a hung call is visible at once."""
        with self._lock:
            self._total += 1
            self._requests.append(record)
            self._routes[record["route"]].requests += 1

    def record_outcome(self, record: dict[str, Any]) -> None:
        """Count a request's answer once it is decided (``outcome`` and ``fault`` set)."""
        with self._lock:
            counts = self._routes[record["route"]]
            self._outcomes[record["outcome"]] += 1
            counts.outcomes[record["outcome"]] += 1
            if record.get("fault"):
                self._faults[record["fault"]] += 1
                counts.faults[record["fault"]] += 1

    def record_accepted(
        self,
        to: str,
        pin: str,
        client_ref: str | None,
        message_id: str,
        route: str = "sc2fa",
        more_ids: Sequence[str] = (),
    ) -> None:
        """An accepted send; ``pin`` is the PIN on 2FA and the text on the SMS routes.

        ``more_ids`` are the other parts' message-ids of a multi-part SMS
        (each may be reported to the Conversion API).
        """
        with self._lock:
            self._accepted[(route, to, pin, client_ref or "")] += 1
            self._routes[route].accepted += 1
            self._message_ids.add(message_id)
            self._message_ids.update(more_ids)

    def knows_message(self, message_id: str) -> bool:
        with self._lock:
            return message_id in self._message_ids

    def record_conversion(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._conversions.append(record)

    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        """Every request kept, oldest first; only those of ``route`` when given."""
        with self._lock:
            return [dict(r) for r in self._requests if route is None or r["route"] == route]

    def conversions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(record) for record in self._conversions]

    def accepted_count(self, to: str, pin: str, client_ref: str | None = None, route: str = "sc2fa") -> int:
        """How many times this exact send was accepted (a PIN sent twice shows as 2)."""
        with self._lock:
            return self._accepted[(route, to, pin, client_ref or "")]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            calls = [
                {"route": route, "to": to, _BODY_KEY[route]: pin, "client-ref": ref, "count": count}
                for (route, to, pin, ref), count in self._accepted.items()
            ]
            by_status = Counter(str(c["http_status"]) for c in self._conversions)
            return {
                "requests": self._total,
                "accepted": sum(self._accepted.values()),
                "outcomes": dict(self._outcomes),
                "faults": dict(self._faults),
                "accepted_calls": calls,
                "duplicate_accepted_calls": sum(c - 1 for c in self._accepted.values()),
                "conversions": {"total": len(self._conversions), "by_http_status": dict(by_status)},
                "routes": {route: counts.to_dict() for route, counts in self._routes.items()},
            }

    def reset(self, record_limit: int | None = None) -> None:
        with self._lock:
            if record_limit is not None:
                self._record_limit = record_limit
            self._requests = deque(maxlen=self._record_limit)
            self._conversions.clear()
            self._outcomes.clear()
            self._faults.clear()
            self._accepted.clear()
            self._message_ids.clear()
            self._routes = {route: _RouteCounts() for route in ROUTES}
            self._total = 0


#: what ``accepted_calls`` names the second part of the key on each route
_BODY_KEY = {"sc2fa": "pin", "sms": "text", "twilio": "text", "messages": "text"}
