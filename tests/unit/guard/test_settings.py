"""The guard settings the operating side reads: their forms, errors and round trip."""

from __future__ import annotations

import pytest

from worker.config import Settings
from worker.errors import ConfigError
from worker.guard.limits import Limits


def test_caps_parse_to_one_cap_per_country_and_round_trip() -> None:
    settings = Settings.from_env({"PINRELAY_COUNTRY_HOURLY_CAP": " us=2000, CA=300 ,*=100",
                                  "PINRELAY_GUARD": "Monitor", "PINRELAY_GUARD_SAFE": "+1636555,16045553226"})
    assert settings.country_hourly_cap == ("US=2000", "CA=300", "*=100")
    assert Settings.from_env(settings.to_env()) == settings
    limits = Limits.from_settings(settings)
    assert limits.mode == "monitor" and limits.safe == ("1636555", "16045553226")
    assert limits.country_cap(limits.country_hourly, "US") == 2000
    assert limits.country_cap(limits.country_hourly, "GB") == 100
    assert limits.countries() == ("CA", "US")


@pytest.mark.parametrize(("name", "value", "says"), [
    ("PINRELAY_COUNTRY_HOURLY_CAP", "US=2000,US=5", "each country once"),
    ("PINRELAY_COUNTRY_BURST_10MIN", "USA=5", "COUNTRY=COUNT pairs"),
    ("PINRELAY_COUNTRY_BURST_10MIN", "US=-1", "COUNTRY=COUNT pairs"),
    ("PINRELAY_GUARD", "block", "one of enforce, monitor, off"),
    ("PINRELAY_GUARD_SAFE", "16365553226,abc", "4 to 15 digits"),
    ("PINRELAY_DAILY_SPEND_CAP", "-1", "zero or positive"),
])
def test_a_bad_value_is_named(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}.*{says}"):
        Settings.from_env({name: value})


def test_without_a_star_an_unlisted_country_has_no_cap() -> None:
    limits = Limits.from_settings(Settings.from_env({"PINRELAY_COUNTRY_HOURLY_CAP": "US=5"}))
    assert limits.country_cap(limits.country_hourly, "CA") == 0
