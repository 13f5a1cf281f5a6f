"""Secrets stay out of plain sight on the command line (issue 10, findings 9 and 10).

Real ``pinrelay`` subprocesses against a real Redis: ``send --pin-stdin`` keeps the PIN out of
the process list, ``up`` never prints the Redis password, and a control character in an
idempotency key is refused with exit 2 before anything is stored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.local.embedded import find_redis_server, free_port

CLI = [sys.executable, "-m", "worker.cli"]
TO = "16365553226"


def _env(settings: Settings | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    if settings is not None:
        env.update(settings.to_env())
    env.update(extra)
    return env


def _run(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(settings), input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def cli_settings(redis_url: str, redis_client: redis.Redis) -> Iterator[Settings]:
    settings = isolated_settings(redis_url)
    yield settings
    cleanup(redis_client, settings)


def test_send_reads_the_pin_from_stdin(cli_settings: Settings, redis_client: redis.Redis) -> None:
    done = _run(cli_settings, "send", TO, "--pin-stdin", stdin="482913\n")
    assert done.returncode == 0, done.stderr
    request_id = json.loads(done.stdout)["id"]
    assert redis_client.get(f"{cli_settings.key_prefix}pin:{request_id}") == b"482913"


@pytest.mark.parametrize("args", [[], ["--pin", "1234", "--pin-stdin"]], ids=["neither", "both"])
def test_send_needs_exactly_one_pin_source(cli_settings: Settings, args: list[str]) -> None:
    done = _run(cli_settings, "send", TO, *args, stdin="1234\n")
    assert done.returncode == 2
    assert "--pin-stdin" in done.stderr
    assert not done.stdout


def test_an_empty_stdin_pin_is_refused(cli_settings: Settings) -> None:
    done = _run(cli_settings, "send", TO, "--pin-stdin", stdin="")
    assert done.returncode == 2
    assert "pin" in done.stderr


def test_send_help_says_why_to_prefer_stdin(cli_settings: Settings) -> None:
    done = _run(cli_settings, "send", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--pin-stdin" in text and "ps" in text


def test_idempotency_key_with_a_control_character_exits_2(
    cli_settings: Settings, redis_client: redis.Redis
) -> None:
    done = _run(cli_settings, "send", TO, "--pin", "1234", "--idempotency-key", "order\x1b[2J77")
    assert done.returncode == 2
    assert "idempotency_key" in done.stderr
    assert list(redis_client.scan_iter(match=f"{cli_settings.key_prefix}*")) == []


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_up_never_prints_the_redis_password(tmp_path: Path) -> None:
    """`pinrelay up` against a Redis with a password: its status line shows the URL redacted."""
    password = "s3cret-" + os.urandom(6).hex()
    port = free_port()
    server = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                               "--requirepass", password, "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    env = _env(None, PINRELAY_REDIS_URL=url, PINRELAY_RUNTIME_DIR=str(tmp_path / "rt"),
               PINRELAY_KEY_PREFIX=f"t{port}:", PINRELAY_QUEUE=f"pinrelay-t{port}")
    up = None
    errors = open(tmp_path / "up.stderr", "wb")  # noqa: SIM115 - closed below
    try:
        wait_for(lambda: _pings(port, password), 10, "redis-server with a password")
        argv = [*CLI, "up", "--with-sim", "--webhook-port", str(free_port()), "--workers", "1"]
        up = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=errors, text=True,
                              start_new_session=True)
        assert up.stdout is not None
        line = up.stdout.readline()
        status = json.loads(line)
        assert status["status"] == "up"
        assert password not in line
        assert status["redis"] == f"redis://:***@127.0.0.1:{port}/0"
    finally:
        if up is not None:
            os.killpg(up.pid, signal.SIGTERM)
            try:
                up.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()
            assert up.stdout is not None
            up.stdout.close()
        errors.close()
        server.terminate()
        server.wait(timeout=10)


def _pings(port: int, password: str) -> bool:
    client = redis.Redis(port=port, password=password, socket_connect_timeout=0.3)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()
