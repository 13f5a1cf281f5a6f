"""Turning JSON and CLI values into SimConfig knob values, and the per-route override rules.

Knobs arrive as JSON over ``POST /_sim/config`` as often as from Python, so
lists become tuples or frozensets, ints are taken for floats, and anything
else of the wrong type is refused with the knob's name in the message.

Per route (``sc2fa``, ``sms``, ``twilio``, ``messages``) only the fault and receipt-plan
knobs of :data:`ROUTE_KNOBS` can differ: accounts, transports of the
dispatcher and bookkeeping are one per simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from .errors import SimConfigError

#: the provider routes, named as in PINRELAY_ROUTES (CONTRACT.md)
ROUTES: Final = ("sc2fa", "sms", "twilio", "messages")
#: knobs a route may override; every other knob is shared by all routes
ROUTE_KNOBS: Final = (
    "latency_ms",
    "script",
    "error_rates",
    "throttle_wait_ms",
    "rate_limit_per_s",
    "dlr_mix",
    "dlr_delay_s",
    "dlr_jitter_s",
    "dlr_intermediate",
    "dlr_transport",
    "duplicate_rate",
    "out_of_order",
    "receipt_before_response",
)
_INT_TUPLES: Final = frozenset({"conversion_script"})


def coerce(name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the knob whose default is ``default``; raises naming the knob."""
    bad = SimConfigError(f"knob {name}={value!r}: expected {type(default).__name__}")
    if name == "seed":
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise bad
    coerced = _scalar(default, value) if _is_scalar(default) else _collection(name, default, value)
    if coerced is None:
        raise bad
    return coerced


def coerce_routes(value: Any, coerce_knob: Callable[[str, Any], Any]) -> dict[str, dict[str, Any]]:
    """``{"sms": {"script": [...]}, ...}`` checked: known routes, per-route knobs, each value coerced."""
    if not isinstance(value, Mapping):
        raise SimConfigError(f"knob routes={value!r}: expected an object of route -> knobs")
    return {check_route(route): route_knobs(knobs, coerce_knob) for route, knobs in value.items()}


def check_route(route: Any) -> str:
    """``route`` if it names a route, else SimConfigError listing them."""
    if route not in ROUTES:
        raise SimConfigError(f"unknown route {route!r}; routes are {', '.join(ROUTES)}")
    return str(route)


def route_knobs(knobs: Any, coerce_knob: Callable[[str, Any], Any]) -> dict[str, Any]:
    """One route's overrides, each name allowed per route and its value coerced."""
    if not isinstance(knobs, Mapping):
        raise SimConfigError(f"route knobs {knobs!r}: expected an object of knob -> value")
    for name in knobs:
        if name not in ROUTE_KNOBS:
            allowed = ", ".join(ROUTE_KNOBS)
            raise SimConfigError(f"knob {name!r} cannot be set per route; per route: {allowed}")
    return {str(name): coerce_knob(str(name), value) for name, value in knobs.items()}


def param_lists(value: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``{"Tag": ["a", "b"], "Extra": "x"}`` as name -> tuple of string values (one value stays one)."""
    checked: dict[str, tuple[str, ...]] = {}
    for name, values in value.items():
        items = [values] if isinstance(values, str) else values
        if not name or not isinstance(items, list | tuple) or not items or not all(
            isinstance(v, str) for v in items
        ):
            raise SimConfigError(f"param {name!r}: expected a non-empty list of strings, got {values!r}")
        checked[str(name)] = tuple(items)
    return checked


def jsonable(value: Any) -> Any:
    """Tuples to lists, frozensets to sorted lists, recursively through dicts."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _is_scalar(default: Any) -> bool:
    return isinstance(default, bool | int | float | str)


def _scalar(default: Any, value: Any) -> Any:
    """``value`` as the type of ``default`` (ints accepted for floats), else None."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value if isinstance(default, bool) and isinstance(value, bool) else None
    if isinstance(default, str):
        return value if isinstance(value, str) else None
    if isinstance(default, int):
        return value if isinstance(value, int) else None
    return float(value) if isinstance(value, int | float) else None


def _collection(name: str, default: Any, value: Any) -> Any:
    """JSON lists to tuples/frozensets, objects to dicts, else None."""
    if isinstance(default, dict):
        return dict(value) if isinstance(value, Mapping) else None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple | set | frozenset):
        return None
    if isinstance(default, frozenset):
        return frozenset(str(v) for v in value)
    try:
        return tuple(int(v) if name in _INT_TUPLES else str(v) for v in value)
    except (TypeError, ValueError):
        return None
