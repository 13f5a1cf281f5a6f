"""Provider routes through real processes: producer -> Redis -> Celery worker -> simulator over HTTP
(-> receipt or status callback -> receiver -> correlator -> record), and the `pinrelay` commands."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from pinrelay_ops.simulator import Simulator
from tests.support.commands import command_env, run
from tests.support.routes import TWILIO_STATUS_PATH, RouteStacks, routes_of
from tests.support.settings import cleanup, isolated_settings
from tests.support.waiting import wait_for
from worker.config import Settings

TO = "16365553226"
SIGNING = {"signature_secret": "Ex4mpleSigSecret0123456789abcdef", "signature_method": "sha256"}


@pytest.fixture
def stacks(redis_url: str, tmp_path: Path) -> Iterator[RouteStacks]:
    started = RouteStacks(redis_url, tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def fresh(sim: Simulator) -> Simulator:
    sim.reset()
    return sim


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run(command_env(settings, **env), *args)


def calls_for(sim: Simulator, route: str, ref: str) -> list[dict[str, object]]:
    """The simulator's requests on ``route`` for one send (Twilio has no client-ref: by PIN text)."""
    return [r for r in sim.requests(route) if ref in json.dumps(r["params"])]


def test_a_route_missing_its_settings_stops_the_worker_naming_the_variable(redis_url: str) -> None:
    """`pinrelay worker` with PINRELAY_ROUTES=sc2fa,sms and no sender: exit 2, the variable named."""
    local = "http://127.0.0.1:9"  # the simulator's demo credentials are fine on loopback
    result = cli(isolated_settings(redis_url, api_url=local, conversion_url=local), "worker",
                 PINRELAY_ROUTES="sc2fa,sms")
    assert result.returncode == 2, result.stderr
    expected = "configuration error: PINRELAY_ROUTES includes sms, which needs PINRELAY_SMS_FROM"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_sms_route_end_to_end_with_signed_requests_and_receipts(stacks: RouteStacks,
                                                                fresh: Simulator) -> None:
    """PINRELAY_ROUTES=sms: /sms/json gets from/to/text/client-ref signed with `sig` (no api_secret),
    the signed DLR comes back through the receiver, and the record ends `delivered` on route sms."""
    fresh.configure(dlr_mix={"delivered": 1.0}, dlr_delay_s=0.05, **SIGNING)
    live = stacks.start(fresh, ("sms",), receiver=True, **SIGNING,
                        api_signature_secret=SIGNING["signature_secret"], api_signature_method="sha256")
    rid = live.producer.send_pin(TO, "135790", "sms-e2e")
    record = live.wait_state(rid, {"delivered"})
    [call] = fresh.requests("sms")
    params = call["params"]
    assert (params["from"], params["to"], params["text"]) == ("12015550123", TO, "Your code is 135790")
    assert params["client-ref"] == "sms-e2e" and params["sig"] and params["timestamp"]
    assert "api_secret" not in params and "type" not in params
    assert record["route"] == "sms" and record["routes_tried"] == ["sms"]
    assert record["message_id"] == call["message_id"] and record["err_code"] == "0"
    assert fresh.requests("sc2fa") == []


def test_sc2fa_then_sms_moves_on_101_and_503_but_never_on_an_unreadable_200(
        stacks: RouteStacks, fresh: Simulator) -> None:
    """The short code answers 101, then 503, then an unreadable 200: the first two sends move to sms at
    once; the third ends `unconfirmed` after its one call, and sms never sees it."""
    live = stacks.start(fresh, ("sc2fa", "sms"), route_cooldown_s=0.5)
    fresh.configure(route="sc2fa", script=("status:101", "http:503", "garbage"))
    done = []
    for i, expected in enumerate(("submitted", "submitted", "unconfirmed")):
        if i:  # the previous failure opened sc2fa: the next send is its half-open probe
            wait_for(lambda: routes_of(live)["sc2fa"]["probe_ready"], what="sc2fa's cooldown to end")
        rid = live.producer.send_pin(TO, f"24680{i}", f"move-{i}")
        done.append(live.wait_state(rid, {expected}))
    first, second, third = done
    for moved in (first, second):
        assert (moved["route"], moved["routes_tried"]) == ("sms", ["sc2fa", "sms"])
    assert (third["route"], third["routes_tried"]) == ("sc2fa", ["sc2fa"])
    assert "unreadable provider response" in third["error_text"]
    assert [len(calls_for(fresh, "sc2fa", f"move-{i}")) for i in range(3)] == [1, 1, 1]
    assert [len(calls_for(fresh, "sms", f"move-{i}")) for i in range(3)] == [1, 1, 0]


def test_twilio_route_end_to_end_with_signed_status_callbacks(stacks: RouteStacks, fresh: Simulator) -> None:
    """PINRELAY_ROUTES=twilio: the Messages call, Twilio's signed callbacks to /twilio-status-webhook,
    the record `delivered`; a forged X-Twilio-Signature is refused and changes nothing."""
    fresh.configure(dlr_mix={"delivered": 1.0}, dlr_delay_s=0.05)
    live = stacks.start(fresh, ("twilio",), receiver=True)
    rid = live.producer.send_pin(TO, "975310", "tw-e2e")
    record = live.wait_state(rid, {"delivered"})
    [call] = fresh.requests("twilio")
    assert call["params"]["To"] == "+" + TO and call["params"]["Body"] == "Your code is 975310"
    assert call["params"]["StatusCallback"] == live.settings.twilio_status_url
    assert record["message_id"] == call["message_id"] and record["route"] == "twilio"
    callbacks = [r for r in fresh.receipts() if r["route"] == "twilio"]
    assert {r["status"] for r in callbacks} == {"sent", "delivered"}
    assert all(r["last_http_status"] == 200 and r["headers"]["X-Twilio-Signature"] for r in callbacks)
    forged = {"MessageSid": record["message_id"], "MessageStatus": "failed", "To": "+" + TO}
    url = live.settings.twilio_status_url or ""
    answer = requests.post(url, data=forged, headers={"X-Twilio-Signature": "Zm9yZ2VkIHNpZ25hdHVyZQ=="},
                           timeout=5)
    assert answer.status_code == 403
    assert url.endswith(TWILIO_STATUS_PATH)
    assert live.producer.get_status(rid)["state"] == "delivered"


def test_wrong_credentials_on_every_route_leave_sends_queued_until_fixed(
        stacks: RouteStacks, fresh: Simulator) -> None:
    """Every route refuses its credentials: the sends wait in `queued` (not `error`), `pinrelay routes`
    shows every breaker open with its reason, and the sends go out once the simulator is fixed."""
    live = stacks.start(fresh, ("sc2fa", "sms", "twilio"), route_cooldown_s=1.0)
    for route in ("sc2fa", "sms", "twilio"):
        fresh.configure(route=route, error_rates={"auth": 1.0})
    # The first send alone: it meets every route refusing, in turn (two at once in the two pool
    # processes may each skip a route the other has just opened, and no send tries them all).
    rids = [live.producer.send_pin("16365551000", "554430", "creds-0")]
    wait_for(lambda: all(s["state"] == "open" for s in routes_of(live).values()), what="every breaker open")
    rids += [live.producer.send_pin(f"1636555{1000 + i}", f"55443{i}", f"creds-{i}") for i in (1, 2)]
    shown = json.loads(cli(live.settings, "routes").stdout)
    assert [r["route"] for r in shown] == ["sc2fa", "sms", "twilio"]
    assert {r["state"] for r in shown} <= {"open", "half_open"} and "20003" in shown[2]["last_error"]
    for rid in rids:  # waiting; a probe may be calling a route right now (`sending`), never `error`
        record = live.producer.get_status(rid)
        assert record["state"] in {"queued", "sending"}, record
    assert live.producer.get_status(rids[0])["routes_tried"] == ["sc2fa", "sms", "twilio"]
    for route in ("sc2fa", "sms", "twilio"):
        fresh.configure(route=route, error_rates={})
    fixed_at = time.monotonic()
    for rid in rids:
        assert live.wait_state(rid, {"submitted", "error"}, timeout=30)["state"] == "submitted"
    assert time.monotonic() - fixed_at < 30
    used = {live.producer.get_status(rid)["route"] for rid in rids}
    assert all(routes_of(live)[route]["state"] == "closed" for route in used)


def test_demo_runs_on_the_twilio_route(redis_url: str, tmp_path: Path) -> None:
    """`pinrelay demo --route twilio`: every PIN over Twilio's Messages API, every one accounted for
    through the signed status callbacks."""
    settings = isolated_settings(redis_url, runtime_dir=str(tmp_path))
    try:
        result = cli(settings, "demo", "-n", "6", "--route", "twilio")
    finally:
        client = redis.Redis.from_url(redis_url)
        cleanup(client, settings)
        client.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 PINs over twilio" in result.stdout and "all 6 sends accounted for" in result.stdout


def test_a_twilio_callback_replayed_after_its_replay_window_changes_nothing(
        stacks: RouteStacks, fresh: Simulator) -> None:
    """Issue 23 finding 7: Twilio's signature has no timestamp, so a captured status callback stays
    valid for ever, and the receiver remembers one only for two signature windows. The guard after
    that is the correlator's: a send's states only move forward, a receipt for the state it is in is a
    duplicate and one for an earlier state is stale. Captured `delivered` and `sent` callbacks,
    replayed within the window: 200 `duplicate`, not queued; replayed after it (window 1 s): queued,
    and the record, its receipt time and the route's delivery counts stay as they were."""
    fresh.configure(dlr_mix={"delivered": 1.0}, dlr_delay_s=0.05)
    live = stacks.start(fresh, ("twilio",), receiver=True, signature_window_s=1)
    rid = live.producer.send_pin(TO, "864201", "tw-replay")
    before = live.wait_state(rid, {"delivered"})
    captured = [r for r in fresh.receipts()
                if r["route"] == "twilio" and r["message_id"] == before["message_id"]]
    assert {r["status"] for r in captured} == {"sent", "delivered"}
    url = live.settings.twilio_status_url or ""

    def replay(receipt: dict[str, object]) -> requests.Response:
        headers = {"X-Twilio-Signature": receipt["headers"]["X-Twilio-Signature"]}  # type: ignore[index]
        return requests.post(url, data=receipt["fields"], headers=headers, timeout=5)  # type: ignore[arg-type]

    for receipt in captured:
        answer = replay(receipt)
        assert answer.status_code == 200 and answer.json()["status"] == "duplicate"
    routes_before = routes_of(live)["twilio"]["delivery"]
    stats_before = live.producer.store.stats()
    time.sleep(2 * live.settings.signature_window_s + 1)  # the receiver has forgotten them
    for receipt in captured:
        answer = replay(receipt)
        assert answer.status_code == 200 and answer.json()["status"] != "duplicate"  # queued again
    seen = wait_for(lambda: (s := live.producer.store.stats()) and
                    s.get("receipts_duplicate", 0) + s.get("receipts_stale", 0)
                    >= stats_before.get("receipts_duplicate", 0) + stats_before.get("receipts_stale", 0) + 2
                    and s, 20, "the correlator to see the replays")
    assert seen.get("receipts_applied") == stats_before.get("receipts_applied")
    after = live.producer.get_status(rid)
    assert (after["state"], after["receipt_at"], after["final_at"]) == \
        (before["state"], before["receipt_at"], before["final_at"])
    assert routes_of(live)["twilio"]["delivery"] == routes_before
