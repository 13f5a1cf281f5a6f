"""A service that enqueues through pinrelay keeps its own logging, its Celery apps and its tasks.

The host is a real process with its own structlog configuration and its own Celery app on
``redis://``, whose task a ``celery worker`` of its own runs. It runs that task, calls
``worker.send_pin`` and the verify calls, and runs its task again: everything it had set up
must be exactly as before, and the send is then delivered by a real ``pinrelay worker``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pinrelay_ops.simulator import Simulator
from tests.support.commands import Command, command_env, run, stop_all
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from worker.config import Settings
from worker.records.store import RecordStore

SECRET = "embedding-test-verify-secret-0123456789"

HOST_APP = '''
import os
from celery import Celery

app = Celery("host", broker=os.environ["HOST_BROKER"], backend=os.environ["HOST_BROKER"],
             set_as_current=True)
app.conf.update(task_default_queue=os.environ["HOST_QUEUE"], broker_connection_retry_on_startup=True)


@app.task(name="host.add")
def add(x, y):
    return x + y
'''

HOST = '''
import json, logging, sys, threading, warnings

import celery.signals
import kombu.transport
import structlog
from celery.utils.dispatch import Signal

structlog.configure(
    processors=[structlog.processors.add_log_level, structlog.processors.KeyValueRenderer(sort_keys=True)],
    logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    cache_logger_on_first_use=False,
)
logging.basicConfig(level=logging.INFO, format="host-stdlib %(name)s %(message)s")

from hostapp import add, app


def snapshot():
    config = structlog.get_config()
    root = logging.getLogger()
    return {
        "structlog": {key: [id(p) for p in value] if key == "processors" else id(value)
                      for key, value in config.items()},
        "aliases": dict(kombu.transport.TRANSPORT_ALIASES),
        "resolved": {name: str(kombu.transport._transport_cache.get(name)) for name in ("redis", "sentinel")},
        "signals": {name: [list(key) for key, _ in sig.receivers]
                    for name, sig in sorted(vars(celery.signals).items()) if isinstance(sig, Signal)},
        "root": [root.level, [id(h) for h in root.handlers]],
        "hooks": [id(sys.excepthook), id(threading.excepthook), id(warnings.showwarning)],
    }


def round_trip(x, y):
    result = add.delay(x, y)
    value = result.get(timeout=60)
    result.forget()
    return value


first = round_trip(2, 3)
before = snapshot()

import worker

request_id = worker.send_pin("16365553226", "482913", client_ref="host-1")
status = worker.get_status(request_id)
verification_id = worker.start_verification("16365553227")
verification = worker.get_verification(verification_id)

after = snapshot()
second = round_trip(4, 5)
structlog.get_logger("host").info("host_after", n=1)
with app.connection_for_write() as conn:
    transport = f"{type(conn.transport).__module__}.{type(conn.transport).__name__}"
changed = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
print("RESULT " + json.dumps({"first": first, "second": second, "changed": changed, "transport": transport,
                              "request_id": request_id, "state": status["state"],
                              "verification_id": verification_id, "verification": verification["state"]}))
'''


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    (tmp_path / "hostapp.py").write_text(HOST_APP)
    (tmp_path / "host.py").write_text(HOST)
    return tmp_path


@pytest.fixture
def settings(redis_url: str, sim: Simulator) -> Iterator[Settings]:
    configured = isolated_settings(redis_url, api_url=sim.url, conversion_url=sim.url, verify_secret=SECRET)
    yield configured
    client = redis.Redis.from_url(redis_url)
    cleanup(client, configured)
    client.close()


def _host_env(settings: Settings, host_dir: Path, redis_url: str) -> dict[str, str]:
    return command_env(settings, HOST_BROKER=redis_url, HOST_QUEUE=f"{settings.queue}-host",
                       PYTHONPATH=os.pathsep.join([str(host_dir), os.environ.get("PYTHONPATH", "")]))


def _host_worker(host_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The host's own ``celery worker`` (its app, its queue), output in files."""
    with (host_dir / "host-worker.out").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hostapp", "worker", "--pool", "solo",
             "--loglevel", "WARNING", "-Q", env["HOST_QUEUE"],
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            cwd=host_dir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
    assert done.returncode == 0 and line, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def test_a_host_keeps_its_logging_its_celery_app_and_its_task(
    settings: Settings, host_dir: Path, redis_url: str, sim: Simulator
) -> None:
    env = _host_env(settings, host_dir, redis_url)
    host_worker = _host_worker(host_dir, env)
    pinrelay: Command | None = None
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        done = subprocess.run([sys.executable, "host.py"], cwd=host_dir, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        result = _result(done)
        assert result["first"] == 5 and result["second"] == 9  # its task, before and after
        assert result["changed"] == {}  # structlog, kombu's aliases, Celery's receivers, hooks
        assert result["transport"] == "kombu.transport.redis.Transport"  # kombu's own, not ours
        assert result["state"] == "queued" and result["verification"] == "pending"
        # pinrelay's events went through the host's structlog configuration, not JSON of ours
        assert "event='verification_started'" in done.stdout and "event='host_after'" in done.stdout
        assert not [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert "482913" not in done.stdout + done.stderr

        # A real pinrelay worker sends what the host enqueued.
        pinrelay = Command.start(host_dir, "worker", command_env(settings), "worker", "--concurrency", "1")
        store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
        record = wait_for(lambda: (r := store.get(result["request_id"]))["state"] == "submitted" and r,
                          60, "the host's send to be submitted")
        assert record["client_ref"] == "host-1"
        pins = [r["params"].get("pin") for r in sim.requests() if r["params"].get("to") == "16365553226"]
        assert "482913" in pins
        wait_for(lambda: any(r["params"].get("to") == "16365553227" for r in sim.requests()), 60,
                 "the verification's code to reach the provider")
    finally:
        _stop(host_worker)
        codes = stop_all(pinrelay)
        client.close()
    assert codes in ([], [0])


def test_a_producer_with_broken_route_settings_still_enqueues(settings: Settings, redis_url: str) -> None:
    """Twilio without credentials: the producer (Python and `pinrelay send`) enqueues; the worker refuses."""
    env = command_env(settings, PINRELAY_ROUTES="twilio")
    code = ("import json, worker\n"
            "rid = worker.send_pin('16365553226', '1234')\n"
            "print('RESULT ' + json.dumps({'state': worker.get_status(rid)['state']}))\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert _result(done)["state"] == "queued"
    sent = run(env, "send", "16365553226", "--pin", "5678")
    assert sent.returncode == 0, sent.stderr
    refused = run(env, "worker", "--concurrency", "1")
    assert refused.returncode == 2
    assert "PINRELAY_ROUTES includes twilio, which needs PINRELAY_TWILIO_ACCOUNT_SID" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_celery_asks_setup_logging_and_leaves_the_root_logger_to_a_receiver() -> None:
    """Our worker's ``setup_logging_subsystem`` connects the receiver for that call only; Celery
    then configures no root handler of its own, and another app's worker is left alone."""
    code = textwrap.dedent("""
        import logging
        from celery import Celery
        from celery.signals import setup_logging
        from worker.config import Settings
        from worker.logs import configure_logging
        from worker.taskqueue.app import worker_base_app
        settings = Settings.from_env({"PINRELAY_REDIS_URL": "redis://127.0.0.1:1/0"})
        configure_logging(settings)
        app = worker_base_app(settings)
        app.log.setup_logging_subsystem(loglevel="INFO")
        handlers = [type(h).__name__ for h in logging.getLogger().handlers]
        assert handlers == ["_CurrentStderr"], handlers
        assert not setup_logging.receivers, setup_logging.receivers
        other = Celery("host", set_as_current=False)
        other.log.already_setup = False
        type(other.log)._setup = False
        other.log.setup_logging_subsystem(loglevel="INFO")
        names = [type(h).__name__ for h in logging.getLogger().handlers]
        assert names == ["StreamHandler"], names  # Celery's own set-up, as without pinrelay
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
