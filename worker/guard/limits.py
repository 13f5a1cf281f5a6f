"""The guard's limits as its operating side reads them: one object built from the settings.

``pinrelay guard status``, the quota metrics and ``pinrelay doctor`` turn counters into use
ratios; they need the same limits the decision path applies, read from the same settings
(``PINRELAY_KEY_HOURLY_QUOTA`` ...). A limit of 0 is off: its ratio is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from worker.config import Settings
from worker.config.lists import country_caps
from worker.guard.keys import DEFAULT_ORIGIN

ANY_COUNTRY: Final = "*"  # the cap of every allowed country not listed


@dataclass(frozen=True, slots=True)
class Limits:
    """What the guard enforces now: its mode, the quotas, the caps, the configured safe list."""

    mode: str = "enforce"
    key_hourly: int = 0
    key_daily: int = 0
    country_hourly: Mapping[str, int] = field(default_factory=dict)
    country_burst: Mapping[str, int] = field(default_factory=dict)
    spend_cap: float = 0.0
    safe: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    producer_origin: str = DEFAULT_ORIGIN  # the origin of this host's Python API / CLI sends

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            mode=settings.guard_mode,
            key_hourly=settings.key_hourly_quota,
            key_daily=settings.key_daily_quota,
            country_hourly=country_caps(settings.country_hourly_cap),
            country_burst=country_caps(settings.country_burst_10min),
            spend_cap=settings.daily_spend_cap,
            safe=tuple(settings.guard_safe),
            regions=tuple(settings.phone_regions),
            producer_origin=settings.producer_id,
        )

    def country_cap(self, caps: Mapping[str, int], country: str) -> int:
        """The cap of ``country`` in ``caps``: its own, else the ``*`` one, else 0 (none)."""
        return int(caps.get(country, caps.get(ANY_COUNTRY, 0)))

    def countries(self) -> tuple[str, ...]:
        """The countries a cap can be looked at for without a scan: the allowed regions and
        every country a cap names."""
        named = {cc for caps in (self.country_hourly, self.country_burst) for cc in caps if cc != ANY_COUNTRY}
        return tuple(sorted(set(self.regions) | named))


def ratio(count: float, limit: float) -> float | None:
    """``count`` as a share of ``limit``; None when the limit is off (0)."""
    return round(count / limit, 4) if limit > 0 else None
