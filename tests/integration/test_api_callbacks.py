"""Outcome callbacks and the misrouted-task sweep through real processes.

`pinrelay api`, a worker, the receipt receiver and the correlator run against the simulator,
which sends delivery receipts; a local HTTP server stands in for the producer's callback
endpoint and checks each POST's signature itself, with the documented formula.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from celery import Celery

from pinrelay_ops.simulator import Simulator
from tests.support.api import CALLBACK_SECRET, CLI, VERIFY_SECRET, CallbackReceiver, Client, cli, create_key
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.waiting import wait_for
from worker.callbacks.signing import verify_v2
from worker.local.embedded import free_port

TO = "16365553226"
METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def live(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    stack = start_live(redis_url, sim, tmp_path_factory.mktemp("api-callbacks"), callbacks=True,
                       callback_secret=CALLBACK_SECRET, callback_allow_private=True,
                       verify_secret=VERIFY_SECRET)
    try:
        stack.stack.start_webhook()
        stack.stack.start_correlator(PINRELAY_METRICS_PORT=str(METRICS_PORT))
        stack.stack.start_api()
        yield stack
    finally:
        stop_live(stack)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as server:
        yield server


@pytest.fixture
def api(live: LiveStack) -> Iterator[Client]:
    live.sim.reset()
    live.sim.configure(dlr_url=f"{live.stack.webhook_url}/delivery-receipt-webhook", dlr_delay_s=0.05,
                       dlr_mix={"delivered": 1.0}, dlr_retry_initial_s=0.2)
    client = Client(live.stack.api_url or "", create_key(live.settings)["key"])
    yield client
    client.close()


def signature_ok(request: dict[str, Any]) -> bool:
    """What a producer's endpoint does: recompute the HMAC over "<t>.<body>" and compare."""
    fields = dict(part.split("=", 1) for part in request["headers"]["X-Pinrelay-Signature"].split(","))
    expected = hmac.new(CALLBACK_SECRET.encode(), fields["t"].encode() + b"." + request["body"],
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(float(fields["t"]) - request["at"]) < 300


def signed_v2(request: dict[str, Any], secret: str, key_id: str) -> bool:
    """What a producer's endpoint does with v2: its own key id, the event id header, the raw body."""
    headers = request["headers"]
    return verify_v2(secret, headers["X-Pinrelay-Signature"], request["body"], headers["X-Pinrelay-Event-Id"],
                     key_id, now=request["at"])


def test_a_key_with_its_own_callback_secret_signs_with_it_and_names_itself(
        live: LiveStack, api: Client, receiver: CallbackReceiver) -> None:
    """`pinrelay keys create NAME --callback-secret` prints a secret once; that key's callbacks are
    signed with it (v1 and v2) and carry its id, and PINRELAY_CALLBACK_SECRET no longer checks them."""
    done = cli(live.settings, "keys", "create", "billing", "--callback-secret")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    secret = created["callback_secret"]
    client = Client(live.stack.api_url or "", created["key"])
    try:
        answer = client.post("/v1/pins", json={"to": TO, "pin": "918273", "callback_url": receiver.url})
        rid = answer.json()["id"]
        (posted,) = wait_for(lambda: receiver.for_record(rid), 30, "the callback")
    finally:
        client.close()
    assert posted["headers"]["X-Pinrelay-Key-Id"] == created["id"]
    assert signed_v2(posted, secret, created["id"]) and not signature_ok(posted)
    listed = json.loads(cli(live.settings, "keys", "list").stdout)
    assert next(k for k in listed if k["id"] == created["id"])["own_callback_secret"] is True
    assert secret not in json.dumps(listed)


def test_a_callback_signed_for_one_key_fails_another_services_check(
        live: LiveStack, api: Client, receiver: CallbackReceiver) -> None:
    """Issue 23 finding 6: a key holder makes a send with another service's client_ref and its own
    callback_url. The callback is signed for its key id: the other service's v2 check (the shared
    secret, its own key id) refuses it, and swapping in a fresh event id does not help."""
    victim = create_key(live.settings, "victim-service")
    rid = api.post("/v1/pins", json={"to": TO, "pin": "192837", "client_ref": "login-of-victim",
                                     "callback_url": receiver.url}).json()["id"]
    (posted,) = wait_for(lambda: receiver.for_record(rid), 30, "the attacker's callback")
    attacker = posted["headers"]["X-Pinrelay-Key-Id"]
    assert attacker != victim["id"] and signed_v2(posted, CALLBACK_SECRET, attacker)
    assert not signed_v2(posted, CALLBACK_SECRET, victim["id"])
    fresh = {**posted, "headers": {**posted["headers"], "X-Pinrelay-Event-Id": "0" * 32}}
    assert not signed_v2(fresh, CALLBACK_SECRET, attacker)


def test_a_callback_secret_is_never_taken_from_the_command_line(live: LiveStack) -> None:
    """`--callback-secret VALUE` (it would show in `ps`) exits 2; `--callback-secret -` reads stdin."""
    refused = cli(live.settings, "keys", "create", "x", "--callback-secret", "s" * 40)
    assert refused.returncode == 2 and "never the secret itself" in refused.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINRELAY_")} | live.settings.to_env()
    given = subprocess.run([*CLI, "keys", "create", "y", "--callback-secret", "-"], input="t" * 40 + "\n",
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout)["callback_secret"] == "t" * 40


def test_a_delivered_send_is_posted_signed_to_its_callback_url(
        api: Client, receiver: CallbackReceiver) -> None:
    """One POST once the receipt settles the send: the record as GET shows it, signed, with an event id."""
    url = f"{receiver.url}/hook?a=1"
    answer = api.post("/v1/pins", json={"to": TO, "pin": "415263", "callback_url": url})
    rid = answer.json()["id"]
    (posted,) = wait_for(lambda: receiver.for_record(rid), 30, "the callback")
    assert posted["path"] == "/hook?a=1" and posted["headers"]["Content-Type"] == "application/json"
    assert signature_ok(posted)
    body = json.loads(posted["body"])
    assert body["state"] == "delivered" and body == api.get(f"/v1/pins/{rid}").json()
    assert len(posted["headers"]["X-Pinrelay-Event-Id"]) == 32


def test_a_callback_answered_500_is_retried_with_the_same_event_id(
        api: Client, receiver: CallbackReceiver) -> None:
    """500, then (about a second later) 200: two POSTs, one event id, both signed; then no more."""
    receiver.script = [500]
    rid = api.post("/v1/pins", json={"to": TO, "pin": "526374", "callback_url": receiver.url}).json()["id"]
    first, second = wait_for(lambda: (got := receiver.for_record(rid)) and len(got) >= 2 and got, 30,
                             "the retried callback")
    assert (first["status"], second["status"]) == (500, 200)
    assert first["headers"]["X-Pinrelay-Event-Id"] == second["headers"]["X-Pinrelay-Event-Id"]
    assert signature_ok(first) and signature_ok(second)
    assert second["at"] - first["at"] >= 0.9
    assert json.loads(second["body"])["state"] == "delivered"


def test_a_send_the_provider_refuses_is_posted_as_error(live: LiveStack, api: Client,
                                                        receiver: CallbackReceiver) -> None:
    """The worker settles it (no receipt): the callback carries `error` and the provider's status."""
    live.sim.configure(script=["status:3"])
    rid = api.post("/v1/pins", json={"to": TO, "pin": "637485", "callback_url": receiver.url}).json()["id"]
    (posted,) = wait_for(lambda: receiver.for_record(rid), 30, "the callback")
    body = json.loads(posted["body"])
    assert (body["state"], body["provider_status"]) == ("error", "3") and signature_ok(posted)


def test_the_cli_takes_a_callback_url_too(live: LiveStack, api: Client, receiver: CallbackReceiver) -> None:
    done = cli(live.settings, "send", TO, "--pin", "748596", "--callback-url", receiver.url)
    assert done.returncode == 0, done.stderr
    rid = json.loads(done.stdout)["id"]
    (posted,) = wait_for(lambda: receiver.for_record(rid), 30, "the callback of a CLI send")
    assert json.loads(posted["body"])["state"] == "delivered" and signature_ok(posted)


def test_an_approved_verification_is_posted_to_its_callback_url(
        live: LiveStack, api: Client, receiver: CallbackReceiver) -> None:
    """Once the right code is checked, the verification (as GET shows it, never its code) is POSTed."""
    vid = api.post("/v1/verifications", json={"to": TO, "callback_url": receiver.url}).json()["id"]

    def code() -> str | None:
        sends = api.get(f"/v1/verifications/{vid}").json()["sends"]
        mid = sends[0]["message_id"] if sends else None
        return next((r["params"]["pin"] for r in live.sim.requests() if mid and r["message_id"] == mid), None)

    sent = wait_for(code, 20, "the verification's code at the provider")
    assert api.post(f"/v1/verifications/{vid}/check", json={"code": sent}).json()["status"] == "approved"
    (only,) = wait_for(lambda: receiver.for_record(vid), 30, "the verification's callback")
    body = json.loads(only["body"])
    now = api.get(f"/v1/verifications/{vid}").json()
    # Its send may move on (a receipt, the conversion report) after the callback was taken: compare the rest.
    assert body["state"] == "approved" and _without_send_states(body) == _without_send_states(now)
    assert signature_ok(only) and sent not in only["body"].decode()
    # The verification's own send is a send without a callback: nothing else arrives for it.
    assert receiver.for_record(body["sends"][0]["request_id"]) == []


def test_a_send_task_without_the_queue_is_found_counted_and_explained(live: LiveStack, api: Client) -> None:
    """The trap: a plain `send_task` lands in `celery`; the correlator's sweep makes it visible."""
    other_service = Celery("other-service", broker=live.settings.redis_url, set_as_current=False)
    try:
        task = other_service.send_task("pinrelay.send_pin", kwargs={"to": TO, "pin": "859607"},
                                       kwargsrepr="{'to': '1636555****', 'pin': '[redacted]'}")
    finally:
        other_service.close()
    record = wait_for(lambda: (r := api.get(f"/v1/pins/{task.id}")).status_code == 200 and r.json(), 30,
                      "the misrouted task's record")
    assert record["state"] == "error"
    assert "misrouted" in record["error_text"] and f"queue={live.settings.queue!r}" in record["error_text"]
    scraped = requests.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5).text
    assert "pinrelay_misrouted_tasks_total 1.0" in scraped
    assert '"misrouted_task"' in live.worker_log() and "859607" not in live.worker_log()
    assert "859607" not in [r["params"].get("pin") for r in live.sim.requests()]


# What a send's record keeps changing after the verification is approved: a receipt moves its
# state and receipt_at (and may name its network), the approval's conversion report sets
# conversion_status (None -> 'reported') asynchronously, on the callbacks queue.
MOVES_AFTER_APPROVAL = frozenset({"state", "receipt_at", "network", "conversion_status"})


def _without_send_states(view: dict[str, Any]) -> dict[str, Any]:
    """The verification as shown, less what its sends' receipts and conversion reports keep moving."""
    sends = [{k: v for k, v in send.items() if k not in MOVES_AFTER_APPROVAL}
             for send in view.get("sends", [])]
    return {**view, "sends": sends}
