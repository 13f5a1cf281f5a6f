"""The verify loop through real processes: verifier -> Redis -> Celery worker -> simulator over HTTP.

The simulated user reads the code from what the simulator received, as a phone would.
The CLI tests run the real ``pinrelay verify`` command against the same stack.
"""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from structlog.testing import capture_logs

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.waiting import wait_for
from worker import constants as c
from worker.local.embedded import free_port
from worker.verify.service import Verifier

SECRET = "verify-test-secret-0123456789abcdef"
CLI = [sys.executable, "-m", "worker.cli"]


@pytest.fixture(scope="module")
def vlive(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    stack = start_live(redis_url, sim, tmp_path_factory.mktemp("verify"), callbacks=True,
                       verify_secret=SECRET)
    try:
        yield stack
    finally:
        stop_live(stack)


@pytest.fixture(scope="module")
def verifier(vlive: LiveStack) -> Verifier:
    return Verifier.for_producer(vlive.producer)


def codes_for(sim: Simulator, to: str) -> list[tuple[str, str]]:
    """``(code, message-id)`` of every accepted request the simulator got for ``to``, oldest first."""
    return [(r["params"]["pin"], r["message_id"]) for r in sim.requests()
            if r["params"].get("to") == to and r.get("message_id")]


def wait_code(sim: Simulator, to: str, count: int = 1) -> tuple[str, str]:
    found = wait_for(lambda: len(got := codes_for(sim, to)) >= count and got, 20, f"code {count} for {to}")
    return found[-1]


def wait_conversions(sim: Simulator, message_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The simulator's conversion calls for ``message_ids`` (waits until each arrived)."""

    def arrived() -> dict[str, dict[str, Any]] | None:
        found = {p["message-id"]: p for p in (c["params"] for c in sim.conversions())
                 if p.get("message-id") in message_ids}
        return found if set(found) == message_ids else None

    return wait_for(arrived, 30, f"conversions of {sorted(message_ids)}")  # type: ignore[no-any-return]


def test_start_check_approves_and_reports_the_conversion(vlive: LiveStack, verifier: Verifier,
                                                         fresh_sim: Simulator) -> None:
    """The simulator gets a 6-digit code; it approves; delivered=true for that message-id reaches it."""
    to = "16365550101"
    vid = verifier.start(to, client_ref="login-7")
    code, message_id = wait_code(fresh_sim, to)
    assert len(code) == 6 and code.isascii() and code.isdigit()
    request = fresh_sim.requests()[0]["params"]
    assert request["client-ref"] == "login-7"
    before = time.time()
    assert verifier.check(vid, code) == {"id": vid, "status": "approved", "attempts_left": 5}
    conversion = wait_conversions(fresh_sim, {message_id})[message_id]
    assert conversion["delivered"] == "true"
    sent_at = calendar.timegm(time.strptime(conversion["timestamp"], "%Y-%m-%d %H:%M:%S"))
    assert before - 2 <= sent_at <= time.time() + 1
    assert verifier.check(vid, code)["status"] == "used"
    view = verifier.get(vid)
    assert view["state"] == "approved" and view["sends"][0]["message_id"] == message_id


def test_five_wrong_codes_lock_it(vlive: LiveStack, verifier: Verifier, fresh_sim: Simulator) -> None:
    """Five wrong codes: locked; the right one then answers locked; delivered=false is reported."""
    to = "16365550102"
    vid = verifier.start(to)
    code, message_id = wait_code(fresh_sim, to)
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    statuses = [verifier.check(vid, wrong)["status"] for _ in range(5)]
    assert statuses == ["wrong_code"] * 4 + ["locked"]
    assert verifier.check(vid, code) == {"id": vid, "status": "locked", "attempts_left": 0}
    assert wait_conversions(fresh_sim, {message_id})[message_id]["delivered"] == "false"


def test_resend_does_not_reset_the_count(vlive: LiveStack, verifier: Verifier, fresh_sim: Simulator) -> None:
    """Two wrong, resend, three wrong: locked even with the new code; both sends delivered=false."""
    to = "16365550103"
    vid = verifier.start(to)
    _, first_id = wait_code(fresh_sim, to)
    for _ in range(2):
        assert verifier.check(vid, "9" * 7)["status"] == "wrong_code"
    verifier.resend(vid)
    new, new_id = wait_code(fresh_sim, to, count=2)
    assert new_id != first_id
    for expected in ("wrong_code", "wrong_code", "locked"):
        assert verifier.check(vid, "9" * 7)["status"] == expected
    assert verifier.check(vid, new)["status"] == "locked"
    reported = wait_conversions(fresh_sim, {first_id, new_id})
    assert {p["delivered"] for p in reported.values()} == {"false"}


def test_an_unchecked_code_expires_by_the_sweep(
    vlive: LiveStack, verifier: Verifier, fresh_sim: Simulator, redis_client: redis.Redis
) -> None:
    """Never checked: the worker's verify_expire task ends it expired and reports delivered=false."""
    to = "16365550104"
    vid = verifier.start(to, ttl=1)
    code, message_id = wait_code(fresh_sim, to)
    key = f"{vlive.settings.key_prefix}{c.KEY_VERIFICATION}{vid}"
    wait_for(lambda: redis_client.hget(key, "state") == b"expired", 20, "the sweep to expire it")
    assert wait_conversions(fresh_sim, {message_id})[message_id]["delivered"] == "false"
    assert verifier.check(vid, code)["status"] == "expired"


def _every_value(client: redis.Redis) -> Iterator[str]:
    """Every key and every value in the Redis, whatever its type."""
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        yield key.decode(errors="replace")
        parts: list[Any] = []
        if kind == "string":
            parts = [client.get(key)]
        elif kind == "hash":
            parts = [x for kv in client.hgetall(key).items() for x in kv]
        elif kind == "list":
            parts = client.lrange(key, 0, -1)
        elif kind == "set":
            parts = list(client.smembers(key))
        elif kind == "zset":
            parts = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            parts = [x for _, fields in client.xrange(key) for kv in fields.items() for x in kv]
        yield from (p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in parts if p)


def test_no_value_holds_the_code_after_submission(
    vlive: LiveStack, verifier: Verifier, fresh_sim: Simulator, redis_client: redis.Redis
) -> None:
    """Once the provider accepted it, no key or value of any type in Redis contains the code."""
    to = "16365550105"
    vid = verifier.start(to, length=10)  # ten digits: no timestamp or id contains them by chance
    code, _ = wait_code(fresh_sim, to)
    request_id = verifier.get(vid)["sends"][0]["request_id"]
    vlive.wait_state(request_id, {"submitted"})
    values = list(_every_value(redis_client))
    assert any(request_id in v for v in values)  # the scan does read values
    assert not [v for v in values if code in v]


def test_no_value_holds_a_code_after_a_resend_or_an_unconfirmed_send(
    vlive: LiveStack, verifier: Verifier, fresh_sim: Simulator, redis_client: redis.Redis
) -> None:
    """A resend's two codes once both sends were accepted, and the code of a send left
    unconfirmed (the provider call hung past the read timeout): in no key or value. The
    unconfirmed send is a dead letter, but `pinrelay dead replay` refuses it (exit 1)."""
    to, hung_to = "16365550112", "16365550113"
    vid = verifier.start(to, length=10)
    first, _ = wait_code(fresh_sim, to)
    verifier.resend(vid)
    second, _ = wait_code(fresh_sim, to, count=2)
    for send in verifier.get(vid)["sends"]:
        vlive.wait_state(send["request_id"], {"submitted", "delivered"})
    fresh_sim.configure(script=("hang:3",))  # past the stack's 1.5 s read timeout
    hung = verifier.start(hung_to, length=10)
    request_id = verifier.get(hung)["sends"][0]["request_id"]
    assert vlive.wait_state(request_id, {"unconfirmed"})["state"] == "unconfirmed"
    third = wait_for(lambda: [r["params"]["pin"] for r in fresh_sim.requests()
                              if r["params"].get("to") == hung_to], 20, "the hung call")[0]
    values = list(_every_value(redis_client))
    assert any(request_id in v for v in values)  # the scan does read values
    assert not [v for v in values if first in v or second in v or third in v]
    replay = _pinrelay(vlive, "dead", "replay", "sends", request_id)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "a verification send cannot be replayed; resend the verification" in replay.stdout
    assert f"pinrelay verify resend {hung}" in replay.stdout


def test_no_code_in_any_log_line(vlive: LiveStack, verifier: Verifier, fresh_sim: Simulator) -> None:
    """A whole loop (wrong, resend, right): neither code in the worker's log nor in our events."""
    to = "16365550106"
    with capture_logs() as events:
        vid = verifier.start(to, length=10)
        first, _ = wait_code(fresh_sim, to)
        verifier.check(vid, first[::-1] if first[::-1] != first else "0" * 10)
        verifier.resend(vid)
        second, second_id = wait_code(fresh_sim, to, count=2)
        assert verifier.check(vid, second)["status"] == "approved"
        wait_conversions(fresh_sim, {second_id})
    text = vlive.worker_log() + json.dumps(events)
    assert "verification_checked" in json.dumps(events)
    assert first not in text and second not in text and SECRET not in text


def _pinrelay(vlive: LiveStack, *args: str, stdin: str | None = None,
              **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(vlive.settings.to_env())
    env.update(env_extra)
    return subprocess.run([*CLI, *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


def _cli(vlive: LiveStack, *args: str, stdin: str | None = None,
         **env_extra: str) -> subprocess.CompletedProcess[str]:
    return _pinrelay(vlive, "verify", *args, stdin=stdin, **env_extra)


def test_cli_whole_loop(vlive: LiveStack, fresh_sim: Simulator) -> None:
    """`pinrelay verify start/check/status/resend`: JSON out; check exits 0 only when approved."""
    to = "16365550107"
    started = _cli(vlive, "start", to, "--client-ref", "cli-1", "--ttl", "120")
    assert started.returncode == 0, started.stderr
    vid = json.loads(started.stdout)["id"]
    code, _ = wait_code(fresh_sim, to)
    wrong = _cli(vlive, "check", vid, "12345678901")
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout) == {"id": vid, "status": "wrong_code", "attempts_left": 4}
    ok = _cli(vlive, "check", vid, "-", stdin=code + "\n")  # the code from stdin, not argv
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "approved", ok.stderr
    again = _cli(vlive, "check", vid, code)
    assert again.returncode == 1 and json.loads(again.stdout)["status"] == "used"
    status = _cli(vlive, "status", vid)
    shown = json.loads(status.stdout)
    assert status.returncode == 0 and shown["state"] == "approved" and shown["to"] == "1636555****"
    assert code not in status.stdout and "hash" not in shown
    resend = _cli(vlive, "resend", vid)
    assert resend.returncode == 1 and "has ended (approved)" in resend.stderr


def test_cli_refuses_length_4_and_sends_nothing(vlive: LiveStack, redis_client: redis.Redis) -> None:
    """--length 4: exit 2 with the rule in the message; no verification, no send record, no limit
    counted for the number (only keys about this number are compared: the worker keeps writing
    others)."""
    prefix, number = vlive.settings.key_prefix, "16365550108"

    def about_the_number() -> list[bytes]:
        found = [key for family in (c.KEY_VERIFICATION, c.KEY_RECORD)
                 for key in redis_client.scan_iter(match=f"{prefix}{family}*", count=1000)
                 if redis_client.type(key) == b"hash" and redis_client.hget(key, "to") == number.encode()]
        return found + list(redis_client.scan_iter(match=f"{prefix}*{number}*", count=1000))

    assert about_the_number() == []
    help_text = _cli(vlive, "check", "--help").stdout
    assert "or - to read it from" in help_text and "stdin" in help_text
    result = _cli(vlive, "start", number, "--length", "4")
    assert result.returncode == 2
    assert "length" in result.stderr and "at least 6" in result.stderr and "Traceback" not in result.stderr
    assert about_the_number() == []


def test_cli_unknown_ids_and_missing_secret(vlive: LiveStack) -> None:
    """Unknown id: exit 1 (check answers unknown); no or a short secret, or a record TTL shorter
    than the code's: exit 2 naming the variables."""
    unknown = _cli(vlive, "check", "0" * 32, "123456")
    assert unknown.returncode == 1 and json.loads(unknown.stdout)["status"] == "unknown"
    status = _cli(vlive, "status", "nope")
    assert status.returncode == 1 and "unknown verification id 'nope'" in status.stderr
    missing = _cli(vlive, "check", "0" * 32, "123456", PINRELAY_VERIFY_SECRET="")
    assert missing.returncode == 2 and "PINRELAY_VERIFY_SECRET is not set" in missing.stderr
    short = _cli(vlive, "start", "16365550109", PINRELAY_VERIFY_SECRET="short")
    assert short.returncode == 2 and "PINRELAY_VERIFY_SECRET" in short.stderr and "short" not in short.stderr
    kept_briefly = _cli(vlive, "status", "0" * 32, PINRELAY_RECORD_TTL="100")
    assert kept_briefly.returncode == 2, kept_briefly.stderr
    assert "PINRELAY_RECORD_TTL (100s) must be at least PINRELAY_VERIFY_TTL (300s)" in kept_briefly.stderr


@pytest.mark.slow
def test_demo_verify_runs_the_whole_loop(tmp_path: Path) -> None:
    """`pinrelay demo --verify -n 10`: every simulated user's verification ends as expected, exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env["PINRELAY_RUNTIME_DIR"] = str(tmp_path)  # its own embedded Redis, stopped at the end
    result = subprocess.run([*CLI, "demo", "--verify", "-n", "10"], env=env, capture_output=True,
                            text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "conversion rate 80.0% (8 approved of 10 ended)" in result.stdout
    assert "0 missing" in result.stdout and "all 10 verifications ended" in result.stdout


def test_a_code_typed_before_the_worker_recorded_the_send_still_reports(
    vlive: LiveStack, verifier: Verifier, fresh_sim: Simulator
) -> None:
    """Approved while the provider call is still open: the conversion waits for the message-id."""
    fresh_sim.configure(latency_ms=1000)  # under the stack's 1.5 s read timeout
    to = "16365550110"
    vid = verifier.start(to)
    arrived = wait_for(lambda: [r for r in fresh_sim.requests() if r["params"].get("to") == to], 10,
                       "the provider call", max_delay=0.02)
    request_id = verifier.get(vid)["sends"][0]["request_id"]
    assert verifier.check(vid, arrived[0]["params"]["pin"])["status"] == "approved"
    assert vlive.record(request_id)["state"] in ("queued", "sending")  # type: ignore[index]
    message_id = vlive.wait_state(request_id, {"submitted", "delivered"})["message_id"]
    assert wait_conversions(fresh_sim, {message_id})[message_id]["delivered"] == "true"


def test_report_and_metrics_show_the_verifications(vlive: LiveStack, verifier: Verifier,
                                                   fresh_sim: Simulator, tmp_path: Path) -> None:
    """`pinrelay report` (text and HTML) leads with the conversion rate; `correlate` exports the counters."""
    to = "16365550111"
    vid = verifier.start(to)
    assert verifier.check(vid, wait_code(fresh_sim, to)[0])["status"] == "approved"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")}
    env.update(vlive.settings.to_env())
    page = tmp_path / "report.html"
    report = subprocess.run([*CLI, "report", "--since", "all", "--html", str(page)], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert report.returncode == 0, report.stderr
    assert "conversion rate" in report.stdout and "start->approval    p50" in report.stdout
    assert "<h2>Verify: conversion rate" in page.read_text()
    port = free_port()
    env["PINRELAY_METRICS_PORT"] = str(port)
    correlator = subprocess.Popen([*CLI, "correlate"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    try:
        def scrape() -> str | None:
            try:
                return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.ConnectionError:
                return None

        text = wait_for(scrape, 30, "the correlator's metrics")
        started = next(line for line in text.splitlines()
                       if line.startswith('pinrelay_verifications_total{outcome="started"}'))
        assert float(started.split()[-1]) >= 1
        assert 'pinrelay_verification_approval_seconds_bucket{le="+Inf"}' in text
    finally:
        correlator.terminate()
        correlator.wait(timeout=30)
