"""`pinrelay doctor` as an operator runs it: the real command against real servers it checks.

Each test starts its own redis-server (with and without AOF), so the durability and
stranded-task checks see exactly what the test set up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.settings import isolated_settings
from worker.config import Settings
from worker.local.embedded import EmbeddedRedis, free_port
from worker.local.supervisor import Stack
from worker.worker_app import create_app

CLI = [sys.executable, "-m", "worker.cli"]


def _doctor(settings: Settings, *args: str, **env_extra: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(settings.to_env())
    env.update(env_extra)
    done = subprocess.run([*CLI, "doctor", *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


@pytest.fixture
def redis_without_aof() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(appendonly=False) as server:
        yield server


@pytest.fixture
def redis_with_aof() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(appendonly=True) as server:
        yield server


def test_doctor_names_a_redis_without_persistence_and_stranded_tasks(
        redis_without_aof: EmbeddedRedis) -> None:
    """No AOF and no RDB: exit 1, `redis_durability` failed; a send_pin in `celery` is named."""
    settings = isolated_settings(redis_without_aof.url, api_url="http://127.0.0.1:9")
    # What a service does with a bare send_task: the task lands in Celery's default queue.
    create_app(settings).send_task("pinrelay.send_pin", kwargs={"request_id": "r1"}, queue="celery")
    code, report = _doctor(settings, "--webhook-port", str(free_port()), "--sim-port", str(free_port()))
    assert code == 1 and report["ok"] is False
    checks = _by_name(report)
    assert checks["redis"]["ok"] is True
    assert checks["redis_durability"]["ok"] is False
    assert "AOF is off" in checks["redis_durability"]["detail"]
    assert checks["stranded_tasks"]["ok"] is False
    assert "1 pinrelay task(s) in the 'celery' queue" in checks["stranded_tasks"]["detail"]
    assert set(checks["settings"]) == {"name", "ok", "detail"}


def test_doctor_passes_on_a_good_setup_with_receiver_and_probe(redis_with_aof: EmbeddedRedis,
                                                               tmp_path: Path) -> None:
    """AOF Redis, a running receiver at the public URL, the simulator's port ours: exit 0.

    ``--probe`` calls the (simulated) provider with the credentials and no number.
    """
    settings = isolated_settings(redis_with_aof.url)
    stack = Stack(settings, log_dir=tmp_path / "logs")
    try:
        sim_url = stack.start_sim()
        settings = isolated_settings(redis_with_aof.url, api_url=sim_url)
        webhook_url = stack.start_webhook()
        public = f"{webhook_url}/delivery-receipt-webhook"
        code, report = _doctor(settings, "--probe",
                               "--webhook-port", webhook_url.rsplit(":", 1)[1],
                               "--sim-port", sim_url.rsplit(":", 1)[1],
                               PINRELAY_PUBLIC_WEBHOOK_URL=public)
    finally:
        stack.stop()
    checks = _by_name(report)
    assert code == 0, report
    assert report["ok"] is True
    assert checks["redis_durability"]["detail"].startswith("AOF is on")
    assert checks["redis_eviction"]["ok"] and checks["broker"]["ok"] and checks["stranded_tasks"]["ok"]
    assert "status 2" in checks["route:sc2fa"]["detail"]  # credentials taken, nothing sent
    assert checks["receiver"]["detail"].startswith(f"{webhook_url}/healthz answers ok")
    assert "held by a running pinrelay webhook" in checks["port:webhook"]["detail"]
    assert "held by a running pinrelay sim" in checks["port:sim"]["detail"]


def test_doctor_flags_demo_credentials_with_the_real_provider(redis_with_aof: EmbeddedRedis) -> None:
    """The simulator's credentials with the real provider URL (the defaults) fail `route:sc2fa`."""
    settings = isolated_settings(redis_with_aof.url)
    code, report = _doctor(settings, "--webhook-port", str(free_port()), "--sim-port", str(free_port()))
    assert code == 1
    detail = _by_name(report)["route:sc2fa"]["detail"]
    assert "demo credentials" in detail and "PINRELAY_API_KEY" in detail


def test_doctor_checks_the_messages_route_by_its_auth(redis_with_aof: EmbeddedRedis) -> None:
    """`messages` with Basic auth: the demo key with the real Messages API host fails; with an
    application (id and key) its credentials are present."""
    settings = isolated_settings(redis_with_aof.url, routes=("messages",), sms_from="12015550123")
    ports = ("--webhook-port", str(free_port()), "--sim-port", str(free_port()))
    _, report = _doctor(settings, *ports)
    assert "demo credentials with https://api.nexmo.com" in _by_name(report)["route:messages"]["detail"]
    _, report = _doctor(settings, *ports, PINRELAY_VONAGE_APPLICATION_ID="app-1",
                        PINRELAY_VONAGE_PRIVATE_KEY="/etc/hostname")
    assert _by_name(report)["route:messages"]["ok"]


def test_doctor_reports_an_invalid_setting_by_name(redis_with_aof: EmbeddedRedis) -> None:
    """A malformed variable is the one failed check, named."""
    code, report = _doctor(isolated_settings(redis_with_aof.url), PINRELAY_SIGNATURE_METHOD="sha3")
    assert code == 1
    assert report["checks"][0]["name"] == "settings" and not report["checks"][0]["ok"]
    assert "PINRELAY_SIGNATURE_METHOD" in report["checks"][0]["detail"]
