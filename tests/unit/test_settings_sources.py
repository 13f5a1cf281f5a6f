"""Where settings come from: the environment first, then the runtime file a running `up` leaves;
and what they show of themselves (secrets hidden in repr, summary and logs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from worker.config import Settings
from worker.errors import ConfigError
from worker.local.runtime import clear_runtime, write_runtime

UP_REDIS = "redis://127.0.0.1:7001/0"


@pytest.fixture
def running_up(tmp_path: Path) -> dict[str, str]:
    """An environment whose runtime dir holds the file of a live `up` (this process) on UP_REDIS."""
    env = {"PINRELAY_RUNTIME_DIR": str(tmp_path)}
    write_runtime(Settings.from_env(env), redis_url=UP_REDIS)
    return env


def test_the_runtime_file_gives_the_redis_when_the_environment_does_not(running_up: dict[str, str]) -> None:
    """A second terminal (the process environment, or a mapping that asks for it) finds `up`'s Redis."""
    assert Settings.from_env(running_up, runtime_file=True).redis_url == UP_REDIS
    assert Settings.from_env(running_up, runtime_file=True).require_redis().redis_url == UP_REDIS


def test_an_explicit_redis_url_wins_over_the_runtime_file(running_up: dict[str, str]) -> None:
    """The file comes after the environment: PINRELAY_REDIS_URL is never overridden by it."""
    env = {**running_up, "PINRELAY_REDIS_URL": "redis://10.0.0.9:6379/3"}
    assert Settings.from_env(env, runtime_file=True).redis_url == "redis://10.0.0.9:6379/3"


def test_a_mapping_passed_in_does_not_read_the_runtime_file_unless_asked(running_up: dict[str, str]) -> None:
    """Tests pass their own environment: a runtime file on the machine never leaks into it."""
    settings = Settings.from_env(running_up)
    assert settings.redis_url is None
    with pytest.raises(ConfigError) as info:
        settings.require_redis()
    assert str(info.value).startswith("no Redis: set PINRELAY_REDIS_URL or start `pinrelay up`")


def test_a_runtime_file_whose_owner_is_gone_is_ignored(tmp_path: Path) -> None:
    """A stale file (its `up` was killed) is not a Redis: the command says how to get one."""
    pid_max = Path("/proc/sys/kernel/pid_max")
    dead = int(pid_max.read_text()) + 1 if pid_max.exists() else 2**22 + 1  # no process can have it
    (tmp_path / "runtime.json").write_text(json.dumps({"pid": dead, "redis_url": UP_REDIS}))
    assert Settings.from_env({"PINRELAY_RUNTIME_DIR": str(tmp_path)}, runtime_file=True).redis_url is None
    (tmp_path / "runtime.json").write_text("not json")
    assert Settings.from_env({"PINRELAY_RUNTIME_DIR": str(tmp_path)}, runtime_file=True).redis_url is None


def test_the_process_environment_reads_the_runtime_file(running_up: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``from_env()`` (what every command and ``worker.send_pin`` use) includes the runtime file."""
    for name in [n for n in os.environ if n.startswith("PINRELAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PINRELAY_RUNTIME_DIR", running_up["PINRELAY_RUNTIME_DIR"])
    assert Settings.from_env().redis_url == UP_REDIS
    clear_runtime(Settings.from_env())
    assert Settings.from_env().redis_url is None


def test_repr_and_str_hide_every_secret_and_url_password() -> None:
    """Secrets show as ***, a Redis or broker password as ***, whatever field holds them."""
    secrets = {"PINRELAY_API_SECRET": "s1-api-secret", "PINRELAY_SIGNATURE_SECRET": "s2-sig-secret",
               "PINRELAY_FLOWER_PASSWORD": "s3-flower-password", "PINRELAY_VERIFY_SECRET": "s4" * 20,
               "PINRELAY_CALLBACK_SECRET": "s5" * 20, "PINRELAY_TWILIO_AUTH_TOKEN": "s6-token",
               "PINRELAY_API_SIGNATURE_SECRET": "s7-signing"}
    settings = Settings.from_env({**secrets, "PINRELAY_REDIS_URL": "redis://:pw-redis@h:6379/0",
                                  "PINRELAY_BROKER_URL": "amqp://u:pw-broker@h//"})
    shown = repr(settings) + str(settings) + json.dumps(settings.summary())
    for value in [*secrets.values(), "pw-redis", "pw-broker"]:
        assert value not in shown
    assert set(settings.secret_values()) == set(secrets.values())
    assert settings.summary()["PINRELAY_API_SECRET"] == "[redacted]"
    assert settings.summary()["PINRELAY_REDIS_URL"] == "redis://:***@h:6379/0"
    assert settings.summary()["PINRELAY_ROUTES"] == ["sc2fa"]
    assert "api_secret='***'" in repr(settings)


def test_to_env_spells_values_as_the_environment_does() -> None:
    """Lists comma-joined, switches 1/0, whole floats without a fraction; unset values left out."""
    env = Settings.from_env({"PINRELAY_TASK_EVENTS": "no", "PINRELAY_ROUTE_COOLDOWN": "30"}).to_env()
    assert env["PINRELAY_TASK_EVENTS"] == "0" and env["PINRELAY_ROUTE_COOLDOWN"] == "30"
    assert env["PINRELAY_PHONE_REGIONS"] == "US,CA" and "PINRELAY_REDIS_URL" not in env
