"""Settings: defaults, validation that names the variable, secrets hidden."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.config import ENV_NAMES, Settings
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


def test_secret_values_come_from_the_secret_fields() -> None:
    """Every field flagged secret is handed to the log redactor, and nothing else."""
    settings = Settings.from_env({
        "PINRELAY_API_SECRET": "apisecretvalue",
        "PINRELAY_SIGNATURE_SECRET": "sigsecretvalue",
        "PINRELAY_FLOWER_PASSWORD": "flowerpassword",
    })
    assert set(settings.secret_values()) == {"apisecretvalue", "sigsecretvalue", "flowerpassword"}
    assert Settings.from_env({}).secret_values() == ("demo-secret-0123",)


def test_settings_built_directly_read_the_process_environment(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    """``Settings()`` (pydantic-settings' own way) reads what ``from_env()`` reads; the
    machine-dependent defaults (the CPU count, the XDG state directory) are filled in."""
    monkeypatch.setenv("PINRELAY_QUEUE", "from-the-env")
    monkeypatch.setenv("PINRELAY_RUNTIME_DIR", str(tmp_path))
    assert Settings() == Settings.from_env() and Settings().queue == "from-the-env"
    assert Settings.from_env({}).worker_concurrency == (os.cpu_count() or 2)
    assert Settings.from_env({"XDG_STATE_HOME": "/x"}).runtime_dir == "/x/pinrelay"


def test_to_env_round_trips() -> None:
    """The variables ``to_env`` writes rebuild equal settings in a child process."""
    settings = Settings.from_env({
        "PINRELAY_REDIS_URL": "redis://:pw@h:1/2",
        "PINRELAY_PHONE_REGIONS": "us,gb",
        "PINRELAY_TASK_EVENTS": "off",
        "PINRELAY_BACKOFF_INITIAL": "0.25",
        "PINRELAY_FLOWER_USER": "admin",
        "PINRELAY_RUNTIME_DIR": "/srv/pinrelay-state",
    })
    env = settings.to_env()
    assert set(env) <= {f"PINRELAY_{suffix}" for suffix in ENV_NAMES.values()}
    assert "PINRELAY_BROKER_URL" not in env  # None is left unset, not written as "None"
    assert Settings.from_env(env) == settings


def test_env_names_cover_every_field() -> None:
    """Every field has a variable, and every variable name is distinct (other code lists them)."""
    assert list(ENV_NAMES) == list(Settings.model_fields)
    assert len(set(ENV_NAMES.values())) == len(ENV_NAMES)
    assert ENV_NAMES["worker_concurrency"] == "WORKER_CONCURRENCY"


@pytest.mark.parametrize(
    ("name", "value"),
    [("PINRELAY_LOG_FORMAT", "xml"), ("PINRELAY_WORKER_POOL", "forks")],
)
def test_choices_are_checked_and_named(name: str, value: str) -> None:
    """A value outside a field's choices is refused by name, from the env or from ``replace``."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert name in str(info.value)
    with pytest.raises(ConfigError):
        Settings.from_env({}).replace(log_format="xml")
