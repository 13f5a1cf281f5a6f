"""Settings: defaults, validation that names the variable, secrets hidden."""

from __future__ import annotations

import pytest

from worker.config import Settings
from worker.errors import ConfigError


def test_defaults_point_at_the_real_provider() -> None:
    """With no environment the documented hosts are used."""
    settings = Settings.from_env({})
    assert settings.api_url == "https://rest.nexmo.com"
    assert settings.conversion_url == "https://api.nexmo.com"
    assert settings.twofa_url == "https://rest.nexmo.com/sc/us/2fa/json"
    assert settings.redis_url is None


def test_broker_defaults_to_redis_url() -> None:
    """PINRELAY_BROKER_URL falls back to PINRELAY_REDIS_URL."""
    settings = Settings.from_env({"PINRELAY_REDIS_URL": "redis://h:1/2"})
    assert settings.effective_broker_url == "redis://h:1/2"
    other = Settings.from_env({"PINRELAY_REDIS_URL": "redis://h:1/2",
                               "PINRELAY_BROKER_URL": "amqp://guest:guest@localhost:5672//"})
    assert other.effective_broker_url.startswith("amqp://")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PINRELAY_SIGNATURE_METHOD", "sha3"),
        ("PINRELAY_API_URL", "ftp://x"),
        ("PINRELAY_REDIS_URL", "http://x"),
        ("PINRELAY_READ_TIMEOUT", "-1"),
        ("PINRELAY_MAX_ATTEMPTS", "many"),
        ("PINRELAY_PHONE_REGIONS", "USA"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    """A malformed variable is refused with its name in the message."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert name in str(info.value)


def test_all_signature_methods_accepted_case_insensitively() -> None:
    """md5hash, md5, sha1, sha256 and sha512 are the documented methods."""
    for method in ("md5hash", "MD5", "sha1", "SHA256", "sha512"):
        assert Settings.from_env({"PINRELAY_SIGNATURE_METHOD": method}).signature_method == method.lower()


def test_repr_hides_secrets() -> None:
    """Neither the API secret, the signature secret nor a Redis password shows in repr."""
    settings = Settings.from_env({
        "PINRELAY_API_SECRET": "topsecretvalue",
        "PINRELAY_SIGNATURE_SECRET": "sigsecretvalue",
        "PINRELAY_REDIS_URL": "redis://:hunter22@h:6379/0",
    })
    shown = repr(settings) + str(settings)
    assert "topsecretvalue" not in shown
    assert "sigsecretvalue" not in shown
    assert "hunter22" not in shown
    assert "***" in shown
