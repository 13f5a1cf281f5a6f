"""The pumping guard's decision path: its part of each CREATE call, and its refusals as errors.

The decision itself runs in Redis (worker/lua/guard.lua, called by worker/lua/create.lua in the
step that stores the sends), so every entry point (Python API, CLI, ``send_task``, HTTP API,
the verify flow and its resends, the auth-server hooks) passes through it and no two processes
can both take the last unit of a quota. This module only prepares what the script needs, per
call and per send, from the settings: the origin (whose quotas and share), the UTC slots, the
caps of each send's country, its price estimate, whether the prefix guard judges it and whether
the configured safe list holds it. And it turns the script's answer into
:class:`~worker.errors.QuotaExceededError` (HTTP 429 ``quota_exceeded``) or
:class:`~worker.errors.GuardBlockedError` (HTTP 403 ``guard_blocked``), with Retry-After.
"""

from __future__ import annotations

import calendar
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from worker.config import Settings
from worker.config.lists import country_caps, country_prices
from worker.errors import AbuseLimitError, GuardBlockedError, QuotaExceededError
from worker.guard import keys as k
from worker.masking import mask_number

__all__ = ["GuardSend", "GuardPlan", "GUARD_RULES", "refusal", "SHARE_TOLERANCE_MS"]


# The burst an origin may send above its share at once: 2 s of it (15 sends of 0.5 x 30/s),
# which adds at most 1 s of the whole send rate to the queue in front of another origin's PIN.
SHARE_TOLERANCE_MS: Final = 2000.0
GUARD_RULES: Final = ("key_hourly", "key_daily", "country_hourly", "country_burst", "spend_cap",
                      "key_send_share", "prefix_blocked")
_ANY: Final = "*"


class GuardSend(NamedTuple):
    """What the guard needs of one send: its number (E.164 digits), country, and whether the
    prefix guard judges it (a verification's send, ``expect_conversion``, or every send with
    ``PINRELAY_GUARD_CONVERSIONS=all``)."""

    number: str
    country: str
    judged: bool


@dataclass(frozen=True)
class GuardPlan:
    """The settings as the script reads them, built once per producer."""

    mode: str
    key_hourly: int
    key_daily: int
    spend_cap: float
    interval_ms: float  # between two sends of one origin at its share; 0: off
    window_ms: int
    grace_ms: int
    block_ms: int
    min_sends: int
    min_conversion: float
    hourly: dict[str, int]
    burst: dict[str, int]
    prices: dict[str, float]
    safe: tuple[str, ...]
    judge_all: bool
    paced_not: str = ""  # the origin the send share does not pace: PINRELAY_PRODUCER_ID (your own code)

    @classmethod
    def from_settings(cls, s: Settings) -> GuardPlan:
        rate = s.key_send_share * s.rate_limit_per_s
        grace = s.guard_grace_s if s.guard_grace_s is not None else s.pin_expiry_s
        return cls(
            mode=s.guard_mode, key_hourly=s.key_hourly_quota, key_daily=s.key_daily_quota,
            spend_cap=s.daily_spend_cap, interval_ms=1000.0 / rate if rate > 0 else 0.0,
            window_ms=s.guard_window_s * 1000, grace_ms=grace * 1000, block_ms=s.guard_block_s * 1000,
            min_sends=s.guard_min_sends, min_conversion=s.guard_min_conversion,
            hourly=country_caps(s.country_hourly_cap), burst=country_caps(s.country_burst_10min),
            prices=country_prices(s.price_estimates), safe=tuple(s.guard_safe),
            judge_all=s.guard_conversions == "all", paced_not=s.producer_id,
        )

    @functools.cached_property
    def _settings_args(self) -> tuple[str | int, ...]:
        """The part of :meth:`args` that only the settings decide, rendered once."""
        return (self.key_hourly, self.key_daily, repr(self.spend_cap), repr(self.interval_ms),
                repr(SHARE_TOLERANCE_MS if self.interval_ms else 0.0), self.mode, self.window_ms,
                self.grace_ms, self.block_ms, self.min_sends, repr(self.min_conversion),
                k.BLOCKED_INDEX_MAX)

    def price(self, country: str) -> float:
        """The estimate counted against the spend cap until the provider reports the price."""
        return self.prices.get(country, self.prices.get(_ANY, 0.0))

    def price_text(self, country: str) -> str:
        """:meth:`price` as the record and the script read it."""
        return repr(self.price(country))

    def judged(self, expect_conversion: bool) -> bool:
        return self.mode != "off" and (expect_conversion or self.judge_all)

    def args(self, origin: str, sends: Sequence[GuardSend], now: float | None = None) -> list[str | int]:
        """The guard's part of a CREATE call (worker/lua/guard.lua's header), one entry per send of
        the call in its order (repeats included: the script skips them)."""
        at = time.time() if now is None else now
        utc = time.gmtime(at)
        hour = time.strftime("%Y%m%d%H", utc)
        out: list[str | int] = [0, int(at * 1000), origin, hour, hour[:8], hour + str(utc.tm_min // 10),
                                *self._settings_args]
        if origin == self.paced_not:  # the operator's own producer: quotas and caps, no pacing
            out[9:11] = ["0.0", "0.0"]
        for send in sends:
            cc = send.country or _ANY
            prefix = send.number[: -k.PREFIX_TAIL_DIGITS]
            safe = ("s" if any(send.number.startswith(entry) for entry in self.safe) else "") + (
                "p" if any(prefix.startswith(entry) for entry in self.safe) else "")
            out += [cc, self.hourly.get(cc, self.hourly.get(_ANY, 0)),
                    self.burst.get(cc, self.burst.get(_ANY, 0)), self.price_text(send.country),
                    ("j" if send.judged else "") + safe]
        out[0] = len(out) - 1
        return out

    def record_fields(self, origin: str, country: str, judged: bool, now: float) -> list[str]:
        """The fields a send's record keeps for the guard's later steps: its ``origin``, the
        ``price_est`` and ``spend_day`` the provider's price settles (finish.lua), and ``judged``
        (a conversion then counts for its prefix: guard_convert.lua)."""
        return ["origin", origin, "price_est", self.price_text(country), "spend_day", k.day_slot(now),
                *(["judged", "1"] if judged else [])]

    def limit_of(self, rule: str, country: str) -> str:
        """The limit a refusal names (never a prefix guard threshold)."""
        if rule == "key_hourly":
            return f"{self.key_hourly} sends per hour (PINRELAY_KEY_HOURLY_QUOTA)"
        if rule == "key_daily":
            return f"{self.key_daily} sends per day (PINRELAY_KEY_DAILY_QUOTA)"
        if rule == "country_hourly":
            return f"{self.hourly.get(country, self.hourly.get(_ANY, 0))} sends to {country} per hour " \
                   "(PINRELAY_COUNTRY_HOURLY_CAP)"
        if rule == "country_burst":
            return f"{self.burst.get(country, self.burst.get(_ANY, 0))} sends to {country} per 10 minutes " \
                   "(PINRELAY_COUNTRY_BURST_10MIN)"
        if rule == "spend_cap":
            return f"{self.spend_cap:g} per UTC day (PINRELAY_DAILY_SPEND_CAP)"
        return "its share of the send rate (PINRELAY_KEY_SEND_SHARE x PINRELAY_RATE_LIMIT)"


_MESSAGES: Final = {
    "key_hourly": "this API key's hourly quota is used up",
    "key_daily": "this API key's daily quota is used up",
    "country_hourly": "the hourly cap of PINs to this country is reached",
    "country_burst": "the 10-minute cap of PINs to this country is reached",
    "spend_cap": "the daily spend cap is reached; sends resume at 00:00 UTC",
    "key_send_share": "this API key is sending faster than its share of the send rate",
}


def _until_next(at: float, unit_s: int) -> float:
    """Seconds from ``at`` to the next UTC boundary of ``unit_s`` (3600, 86400, 600)."""
    return unit_s - (calendar.timegm(time.gmtime(at)) % unit_s) + (int(at) - at)


def refusal(plan: GuardPlan, rule: str, number: str, country: str, retry_ms: float,
            now: float | None = None) -> AbuseLimitError:
    """The error of a guard refusal: ``prefix_blocked`` -> :class:`GuardBlockedError`, a quota
    or cap -> :class:`QuotaExceededError`, each with the seconds until it may pass."""
    at = time.time() if now is None else now
    if rule == "prefix_blocked":
        return GuardBlockedError(
            "to", f"{mask_number(number)!r}: PINs to this number range are paused after unusual "
                  "traffic; if this is wrong, ask the operator (pinrelay guard unblock)",
            limit=rule, retry_after_s=retry_ms / 1000 if retry_ms > 0 else plan.block_ms / 1000)
    unit = {"key_hourly": 3600, "country_hourly": 3600, "key_daily": 86400, "spend_cap": 86400,
            "country_burst": 600}.get(rule)
    retry = _until_next(at, unit) if unit else max(0.001, retry_ms / 1000)
    return QuotaExceededError(
        "to", f"{mask_number(number)!r}: {_MESSAGES[rule]}: limit {plan.limit_of(rule, country)}",
        limit=rule, window_s=float(unit) if unit else None, retry_after_s=retry)
