"""The receiver over real HTTP: granian started from build_command, a real Redis behind it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
import redis
import requests

from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import poll
from webhook.http.launcher import SHUTDOWN_GRACE_S, build_command, build_env
from webhook.serve import server
from worker.config import Settings
from worker.local.embedded import free_port
from worker.signing import sign

SECRET = "integration-signature-secret"
METHOD = "sha256"
URL_PATH = "/delivery-receipt-webhook"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = SHUTDOWN_GRACE_S + 7.0  # the launcher kills granian's group after its grace
# granian closes a connection whose body it did not read to the end, maybe just after
# a pooled client picked it for its next request: oversized bodies go on their own.
OVERSIZED_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"}


class Receiver:
    """A running receiver process and the base URL it answers on."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def wait_ready(self, session: requests.Session) -> None:
        """Poll /healthz until it answers, the process dies, or the deadline passes."""

        def answers() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"receiver exited with {self.process.returncode}:\n{self.output()}")
            try:
                return session.get(self.base + "/healthz", timeout=0.5).status_code == 200
            except requests.ConnectionError:
                return False

        if not poll(answers, START_TIMEOUT_S, max_delay=0.05):
            pytest.fail(f"receiver not ready within {START_TIMEOUT_S}s:\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM, then the exit status (killed if it overstays STOP_TIMEOUT_S)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"receiver still running {STOP_TIMEOUT_S}s after SIGTERM:\n{self.output()}")


def start(argv: list[str], env: dict[str, str], port: int, log: IO[bytes]) -> Receiver:
    """Launch ``argv`` with its output captured in ``log``."""
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Receiver(process, port, log)


@pytest.fixture(scope="module")
def receiver_settings(redis_url: str) -> Iterator[Settings]:
    """Signed-mode settings under a key prefix of this module's own, cleaned after."""
    configured = isolated_settings(
        redis_url, signature_secret=SECRET, signature_method=METHOD, webhook_body_limit_bytes=4096
    )
    yield configured
    client = redis.Redis.from_url(redis_url)
    cleanup(client, configured)
    client.close()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


@pytest.fixture(scope="module")
def receiver(receiver_settings: Settings, session: requests.Session) -> Iterator[Receiver]:
    """granian with two workers, launched exactly as a supervisor would."""
    port = free_port()
    argv = build_command(receiver_settings, server(receiver_settings, "127.0.0.1", port, workers=2))
    with tempfile.TemporaryFile() as log:
        running = start(argv, build_env(receiver_settings), port, log)
        try:
            running.wait_ready(session)
            yield running
        finally:
            running.stop()


class StreamView:
    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client, self.key = client, key

    def for_message(self, message_id: str) -> list[dict[str, str]]:
        """Decoded entries whose messageId is ``message_id``."""
        found = []
        for _, fields in self.client.xrange(self.key):
            decoded = {k.decode(): v.decode() for k, v in fields.items()}
            if decoded.get("messageId") == message_id:
                found.append(decoded)
        return found


@pytest.fixture
def stream(receiver_settings: Settings, redis_client: redis.Redis) -> Iterator[StreamView]:
    yield StreamView(redis_client, receiver_settings.key_prefix + "receipts")


def signed(**fields: str) -> dict[str, str]:
    """``fields`` plus a fresh timestamp and nonce, signed as the provider would."""
    params = {
        "msisdn": "16365553226",
        "to": "98765",
        "err-code": "0",
        "message-timestamp": "2020-02-25 17:07:26",
        **fields,
        "timestamp": str(int(time.time())),
        "nonce": str(uuid.uuid4()),
    }
    params["sig"] = sign(params, SECRET, METHOD)
    return params


def message_id() -> str:
    return "0A" + uuid.uuid4().hex[:14].upper()


@pytest.mark.parametrize(
    ("method", "carrier", "status"),
    [
        pytest.param("GET", "params", "delivered", id="get"),
        pytest.param("POST", "data", "accepted", id="form"),
        pytest.param("POST", "json", "failed", id="json"),
    ],
)
def test_signed_receipt_is_queued(
    receiver: Receiver, session: requests.Session, stream: StreamView, method: str, carrier: str,
    status: str,
) -> None:
    """A signed receipt as a GET, a form POST or a JSON POST answers 200 and is on the stream
    with every field."""
    mid = message_id()
    params = signed(messageId=mid, status=status)
    answer = session.request(method, receiver.base + URL_PATH, timeout=5, **{carrier: params})
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    (entry,) = stream.for_message(mid)
    assert {k: entry[k] for k in params} == params
    assert abs(float(entry["received_at"]) - time.time()) < 60


def test_replayed_receipt_is_queued_once(
    receiver: Receiver, session: requests.Session, stream: StreamView
) -> None:
    """The same signed receipt sent three times is acknowledged each time, queued once."""
    mid = message_id()
    params = signed(messageId=mid, status="delivered")
    codes = [session.post(receiver.base + URL_PATH, data=params, timeout=5).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    assert len(stream.for_message(mid)) == 1


def test_unsigned_receipt_is_401_and_not_queued(
    receiver: Receiver, session: requests.Session, stream: StreamView
) -> None:
    """With signing on, a receipt without sig gets 401 and is not queued."""
    mid = message_id()
    answer = session.get(
        receiver.base + URL_PATH, params={"messageId": mid, "status": "delivered"}, timeout=5
    )
    assert (answer.status_code, answer.json()) == (401, {"error": "missing sig"})
    assert stream.for_message(mid) == []


@pytest.mark.parametrize(
    "make_body",
    [
        pytest.param(lambda: b"messageId=1&status=ok&pad=" + b"x" * 5000, id="content-length"),
        pytest.param(lambda: (b"x" * 1024 for _ in range(64)), id="chunked"),
    ],
)
def test_oversized_body_is_413(
    receiver: Receiver, session: requests.Session, make_body: Callable[[], bytes | Iterator[bytes]]
) -> None:
    """A body over the configured limit gets 413, with a Content-Length or chunked (without one)."""
    answer = session.post(receiver.base + URL_PATH, data=make_body(), headers=OVERSIZED_HEADERS, timeout=5)
    assert answer.status_code == 413


def test_wrong_method_and_unknown_path(receiver: Receiver, session: requests.Session) -> None:
    """PUT on the webhook is 405 with Allow; an unknown path is 404."""
    put = session.put(receiver.base + URL_PATH, timeout=5)
    assert (put.status_code, put.headers["Allow"]) == (405, "GET, POST")
    assert session.get(receiver.base + "/nope", timeout=5).status_code == 404


def test_healthz_reports_redis(receiver: Receiver, session: requests.Session) -> None:
    """/healthz over HTTP is 200 with redis true."""
    answer = session.get(receiver.base + "/healthz", timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok", "redis": True})


def test_serve_stops_cleanly_on_sigterm(receiver_settings: Settings, session: requests.Session) -> None:
    """serve() in the foreground passes SIGTERM to granian and exits 0 within seconds."""
    port = free_port()
    code = (
        "import sys; from webhook.serve import serve; from worker.config import Settings; "
        f"sys.exit(serve(Settings.from_env(), '127.0.0.1', {port}, workers=1))"
    )
    env = build_env(receiver_settings)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    with tempfile.TemporaryFile() as log:
        running = start([sys.executable, "-c", code], env, port, log)
        try:
            running.wait_ready(session)
            started = time.monotonic()
            assert running.stop() == 0, running.output()
            assert time.monotonic() - started < STOP_TIMEOUT_S
            with pytest.raises(requests.ConnectionError):
                session.get(running.base + "/healthz", timeout=1)
        finally:
            if running.process.poll() is None:
                running.process.kill()
                running.process.wait()


def test_factory_logs_json_lines_without_the_secret(receiver: Receiver) -> None:
    """The workers' start-up lines are JSON, and the signature secret appears nowhere in output."""
    output = receiver.output()
    started = [json.loads(line) for line in output.splitlines() if "receiver_worker_started" in line]
    assert len(started) == 2
    assert all(event["signed"] is True for event in started)
    assert SECRET not in output


def test_metrics_endpoint_sums_both_workers(receiver_settings: Settings) -> None:
    """`pinrelay webhook` serves /metrics with request counts added up over its granian workers."""
    port = free_port()
    argv = [sys.executable, "-m", "worker.cli", "webhook", "--host", "127.0.0.1", "--port", str(port),
            "--server-workers", "2"]
    env = build_env(receiver_settings)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryFile() as log:
        running = start(argv, env, port, log)
        try:
            with requests.Session() as fresh:  # new connections spread over both workers
                running.wait_ready(fresh)
                codes = {fresh.get(running.base + "/delivery-receipt-webhook", timeout=5,
                                   headers={"Connection": "close"}).status_code for _ in range(20)}
                text = fresh.get(running.base + "/metrics", timeout=5,
                                 headers={"Connection": "close"}).text
        finally:
            running.stop()
    assert codes == {401}  # unsigned: refused
    line = next(ln for ln in text.splitlines()
                if ln.startswith('pinrelay_webhook_requests_total{status="401"}'))
    assert float(line.split()[-1]) == 20
