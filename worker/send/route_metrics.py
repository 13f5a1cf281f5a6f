"""The routes' Prometheus figures: ``pinrelay_route_state{route}`` and friends.

Kept apart from :mod:`worker.metrics`: the breaker state lives in Redis, so one
process (the correlator, next to :class:`worker.metrics.RedisStatsCollector`) reads it
at scrape time for the whole cluster; the attempt counter is per worker process.

* ``pinrelay_route_state{route}``: 0 closed, 1 degraded, 2 half-open, 3 open;
* ``pinrelay_route_info{route,state,reason}``: 1, the reason and state as labels;
* ``pinrelay_route_state_changed_timestamp_seconds{route}``: the breaker's last change;
* ``pinrelay_route_delivery_success_ratio{route}``: delivered share of the window;
* ``pinrelay_route_attempts_total{route,outcome}``: provider calls per route, ``accepted`` or
  whose fault the failure was (number, destination, country, route, transient, throttled, request,
  unconfirmed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.config import Settings
from worker.metrics import Lazy
from worker.send.route_health import route_status, state_value
from worker.send.routes.base import KEY_ROUTE

ROUTE_ATTEMPTS = Lazy(lambda: Counter(
    "pinrelay_route_attempts_total", "Provider calls per route: accepted, or whose fault the failure "
    "was (number/destination/country/route/transient/throttled/request/unconfirmed)", ["route", "outcome"],
))


class RouteStateCollector(Collector):
    """Every configured route's breaker and delivery rate, read from Redis at scrape time."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def collect(self) -> Iterator[Any]:
        state = GaugeMetricFamily("pinrelay_route_state", "Route breaker: 0 closed, 1 degraded, "
                                  "2 half-open, 3 open", labels=["route"])
        info = GaugeMetricFamily("pinrelay_route_info", "Route state and the reason of its last change",
                                 labels=["route", "state", "reason"])
        changed = GaugeMetricFamily("pinrelay_route_state_changed_timestamp_seconds",
                                    "When the route's breaker last changed", labels=["route"])
        rate = GaugeMetricFamily("pinrelay_route_delivery_success_ratio",
                                 "Delivered share of its last receipts", labels=["route"])
        for status in route_status(self._client, self._settings):
            route = status["route"]
            state.add_metric([route], float(state_value(status)))
            info.add_metric([route, status["shown_as"], (status["reason"] or "")[:120]], 1.0)
            raw_changed = self._client.hget(self._settings.key_prefix + KEY_ROUTE + route, "changed_at")
            changed.add_metric([route], float(raw_changed or 0))
            if status["delivery"]["success_rate"] is not None:
                rate.add_metric([route], float(status["delivery"]["success_rate"]))
        yield state
        yield info
        yield changed
        yield rate
