"""The `pinrelay` command as an operator runs it: real subprocesses, real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from pinrelay_ops.simulator import Simulator
from tests.support.settings import isolated_settings
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.local.embedded import free_port
from worker.worker_app import create_app

CLI = [sys.executable, "-m", "worker.cli"]


def _run(settings: Settings | None, *args: str, env_extra: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    if settings is not None:
        env.update(settings.to_env())
    env.update(env_extra or {})
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_status_of_unknown_id_exits_1_with_a_message(redis_url: str) -> None:
    """`pinrelay status` on an unknown id: exit 1, one clear line, no traceback."""
    result = _run(isolated_settings(redis_url), "status", "does-not-exist")
    assert result.returncode == 1
    assert "unknown request id 'does-not-exist'" in result.stderr
    assert "Traceback" not in result.stderr


def test_send_with_bad_number_exits_2_and_enqueues_nothing(redis_url: str) -> None:
    """`pinrelay send` refuses a number without country code before anything is stored."""
    settings = isolated_settings(redis_url)
    result = _run(settings, "send", "6365553226", "--pin", "1234")
    assert result.returncode == 2
    assert "invalid request: to:" in result.stderr and "Traceback" not in result.stderr


def test_bad_setting_is_named(redis_url: str) -> None:
    """A malformed variable stops the command with the variable's name."""
    result = _run(isolated_settings(redis_url), "status", "x",
                  env_extra={"PINRELAY_SIGNATURE_METHOD": "sha3"})
    assert result.returncode == 2
    assert "PINRELAY_SIGNATURE_METHOD" in result.stderr


def test_a_running_ups_runtime_file_is_found_and_an_explicit_url_wins(redis_url: str, tmp_path: Path) -> None:
    """A command with no PINRELAY_REDIS_URL uses the Redis a live `up` wrote in the runtime file;
    with the variable set, the variable wins (here the file names a port nothing listens on)."""
    runtime = {"PINRELAY_RUNTIME_DIR": str(tmp_path)}
    (tmp_path / "runtime.json").write_text(json.dumps({"pid": os.getpid(), "redis_url": redis_url}))
    found = _run(None, "status", "no-such-id", env_extra=runtime)
    assert found.returncode == 1 and "unknown request id 'no-such-id'" in found.stderr, found.stderr
    (tmp_path / "runtime.json").write_text(json.dumps({"pid": os.getpid(),
                                                       "redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    explicit = _run(None, "status", "no-such-id", env_extra={**runtime, "PINRELAY_REDIS_URL": redis_url})
    assert explicit.returncode == 1 and "unknown request id 'no-such-id'" in explicit.stderr, explicit.stderr


def test_send_without_any_redis_says_how_to_get_one(tmp_path: Path) -> None:
    """With no PINRELAY_REDIS_URL and no running `up`, send explains what to do."""
    result = _run(None, "send", "16365553226", "--pin", "1234",
                  env_extra={"PINRELAY_RUNTIME_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "PINRELAY_REDIS_URL" in result.stderr and "pinrelay up" in result.stderr


def test_plain_celery_cli_runs_the_worker(redis_url: str, sim: Simulator) -> None:
    """`celery -A worker worker` (the standard invocation) consumes and delivers a send."""
    settings = isolated_settings(redis_url, api_url=sim.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(settings.to_env())
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", settings.queue,
                             "-c", "1", "--without-mingle", "--without-gossip"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    app = create_app(settings)
    producer = Producer(settings, app)
    try:
        request_id = producer.send_pin("16365553226", "8080")
        record = wait_for(lambda: (r := producer.get_status(request_id))["state"] == "submitted" and r,
                          timeout=30, what="the celery-CLI worker to send")
        assert record["message_id"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        producer.close()
