"""How the receiver is launched: granian argv and environment, the factories, the public names,
and what a receiver process imports."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import pytest

import webhook
from webhook import rsgi
from webhook.http.launcher import build_command, build_env
from webhook.serve import APP_TARGET, server
from webhook.wsgi import app_factory
from worker.config import Settings
from worker.errors import ConfigError


def test_public_surface_is_pinned() -> None:
    """webhook exports exactly these names, each of them there."""
    assert webhook.__all__ == [
        "create_app", "Receiver", "serve",
        "Receipt", "ResultQueue",
        "HttpError", "ReceiptError", "MalformedReceiptError", "SignatureRejectedError",
        "CallbackRefusedError", "UnsupportedMediaTypeError",
    ]
    assert all(getattr(webhook, name) is not None for name in webhook.__all__)


def test_command_runs_granian_on_the_body_deadline_front(settings: Settings) -> None:
    """The argv starts granian from this interpreter on the given address, serving the receiver
    as a coroutine on its RSGI interface (granian's WSGI interface has no body timeout), on
    uvloop when it is installed."""
    argv = build_command(settings, server(settings, "127.0.0.1", 9123, 3))
    assert argv[:3] == [sys.executable, "-m", "granian"]
    assert argv[-1] == APP_TARGET == "webhook.rsgi:app_factory"
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--interface"] == "rsgi"
    assert pairs["--loop"] == ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
    assert (pairs["--host"], pairs["--port"], pairs["--workers"]) == ("127.0.0.1", "9123", "3")
    assert "--factory" in argv


def test_metrics_on_a_port_of_its_own(settings: Settings) -> None:
    """PINRELAY_WEBHOOK_METRICS=<port>: the launcher serves the workers' metrics there."""
    assert server(settings.replace(webhook_metrics="9464")).metrics_port == 9464
    assert server(settings).metrics_port == 0


def test_both_factories_build_the_receiver(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """webhook.rsgi (granian) and webhook.wsgi (any other server) build the receiver from the
    environment."""
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    switch = sys.getswitchinterval()
    try:
        assert callable(app_factory())
        assert hasattr(rsgi.app_factory(), "__rsgi__")
    finally:
        sys.setswitchinterval(switch)  # the RSGI factory shortens it for its worker process


def test_command_refuses_zero_workers(settings: Settings) -> None:
    """Zero workers is a ConfigError, not a granian usage error later."""
    with pytest.raises(ConfigError):
        build_command(settings, server(settings, workers=0))


def test_env_carries_the_receiver_settings(settings: Settings) -> None:
    """The child environment holds the Redis URL, key prefix and signing settings."""
    signed = settings.replace(signature_secret="s3cret-value", signature_method="sha512")
    env = build_env(signed, base={"PATH": "/bin", "PINRELAY_KEY_PREFIX": "other:"})
    assert env["PATH"] == "/bin"
    assert env["PINRELAY_REDIS_URL"] == settings.redis_url
    assert env["PINRELAY_KEY_PREFIX"] == settings.key_prefix
    assert env["PINRELAY_SIGNATURE_SECRET"] == "s3cret-value"
    assert env["PINRELAY_SIGNATURE_METHOD"] == "sha512"
    assert Settings.from_env(env).key_prefix == settings.key_prefix


def test_env_drops_an_inherited_secret_when_signing_is_off(settings: Settings) -> None:
    """A PINRELAY_SIGNATURE_SECRET inherited from the parent does not turn signing on."""
    env = build_env(settings, base={"PINRELAY_SIGNATURE_SECRET": "leftover"})
    assert "PINRELAY_SIGNATURE_SECRET" not in env


def test_env_needs_a_redis_url() -> None:
    """Without a Redis URL there is nothing to launch: ConfigError."""
    with pytest.raises(ConfigError, match="PINRELAY_REDIS_URL"):
        build_env(Settings(redis_url=None), base={})


def test_factory_without_redis_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """app_factory() with no PINRELAY_REDIS_URL in the environment (nor a running `up`) raises ConfigError."""
    monkeypatch.delenv("PINRELAY_REDIS_URL", raising=False)
    monkeypatch.setenv("PINRELAY_RUNTIME_DIR", str(tmp_path))  # no runtime file of a real `up` here
    with pytest.raises(ConfigError, match="PINRELAY_REDIS_URL"):
        app_factory()


class _ExitedChild:
    """What Supervision needs of granian's Popen: a pid and a wait() that answers ``code``."""

    pid = 0

    def __init__(self, code: int) -> None:
        self.code = code

    def wait(self, timeout: float | None = None) -> int:
        return self.code


@pytest.mark.parametrize(("code", "stopped", "status"), [
    (0, True, 0), (-15, True, 0), (1, True, 0),  # after a stop signal: however granian ended
    (1, False, 1), (-9, False, 137), (0, False, 0),  # on its own: its status (128 + N for signal N)
])
def test_the_launcher_reports_a_requested_stop_as_success(
        monkeypatch: pytest.MonkeyPatch, code: int, stopped: bool, status: int) -> None:
    """A stop that was asked for exits 0 even when granian's drain ended in an error (a worker the
    same control-group SIGTERM hit mid-drain answers 1): systemd and `pinrelay up` read a failure
    only from a server that died by itself."""
    from webhook.http import launcher

    monkeypatch.setattr(launcher.Supervision, "_send", staticmethod(lambda *args: None))
    supervision = launcher.Supervision(_ExitedChild(code), server(Settings()))  # type: ignore[arg-type]
    if stopped:
        supervision.deadline = 0.0
    assert supervision.wait() == status
