"""Start-up refuses configurations that would redeliver a task while it may still be sending."""

from __future__ import annotations

import pytest

from worker.config import Settings
from worker.config.rules import check_schedule_fits, worst_case_schedule_s
from worker.errors import ConfigError


def test_default_configuration_fits() -> None:
    """The defaults pass both checks."""
    settings = Settings.from_env({})
    check_schedule_fits(settings)
    assert worst_case_schedule_s(settings) < settings.visibility_timeout_s < settings.pin_expiry_s


def test_retry_schedule_longer_than_visibility_timeout_is_refused() -> None:
    """A retry deadline past the visibility timeout is refused, naming the variables."""
    settings = Settings.from_env({}).replace(retry_deadline_s=900, backoff_max_s=300, max_attempts=20,
                       visibility_timeout_s=120)
    with pytest.raises(ConfigError) as info:
        check_schedule_fits(settings)
    assert "PINRELAY_VISIBILITY_TIMEOUT" in str(info.value)
    assert "PINRELAY_RETRY_DEADLINE" in str(info.value)


def test_visibility_timeout_past_pin_expiry_is_refused() -> None:
    """Redelivery after the PIN expired would turn every crash into expired sends."""
    settings = Settings.from_env({}).replace(visibility_timeout_s=600, pin_expiry_s=300)
    with pytest.raises(ConfigError) as info:
        check_schedule_fits(settings)
    assert "PINRELAY_PIN_EXPIRY" in str(info.value)
