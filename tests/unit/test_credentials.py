"""The demo credentials are for the simulator on this machine, never for a real provider."""

from __future__ import annotations

import pytest

from worker.config import Settings, is_loopback_url
from worker.errors import ConfigError

SIM = {"PINRELAY_API_URL": "http://127.0.0.1:8090", "PINRELAY_CONVERSION_URL": "http://localhost:8090"}
REAL = {"PINRELAY_API_KEY": "abc123", "PINRELAY_API_SECRET": "real-secret-xyz"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://127.8.0.3", "http://[::1]:9",
                                 "http://localhost:80", "http://LOCALHOST"])
def test_loopback_urls(url: str) -> None:
    """127.0.0.0/8, ::1 and localhost are this machine."""
    assert is_loopback_url(url)


@pytest.mark.parametrize("url", ["https://rest.nexmo.com", "http://10.0.0.1", "http://sim:8090",
                                 "http://0.0.0.0:8090", "http://127.0.0.1.example.com"])
def test_other_urls_are_not_loopback(url: str) -> None:
    """Anything else, private addresses and lookalike names included, is not."""
    assert not is_loopback_url(url)


@pytest.mark.parametrize("env", [{}, {"PINRELAY_API_KEY": "", "PINRELAY_API_SECRET": ""},
                                 {"PINRELAY_API_KEY": "abc123"}, {"PINRELAY_API_SECRET": "real-secret-xyz"},
                                 {**SIM, "PINRELAY_CONVERSION_URL": "https://api.nexmo.com"}])
def test_demo_credentials_with_a_real_provider_are_refused(env: dict[str, str]) -> None:
    """Unset, empty or half-set credentials with a non-loopback URL: ConfigError naming the key."""
    with pytest.raises(ConfigError, match="PINRELAY_API_KEY") as caught:
        Settings.from_env(env).check_provider_credentials()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("env", [SIM, REAL, {**SIM, **REAL}])
def test_demo_credentials_on_loopback_or_real_credentials_pass(env: dict[str, str]) -> None:
    """The simulator on loopback takes the demo account; real credentials go anywhere."""
    Settings.from_env(env).check_provider_credentials()
