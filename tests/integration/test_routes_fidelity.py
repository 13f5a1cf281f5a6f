"""Provider fidelity round 3 through real processes (producer -> Redis -> Celery worker -> simulator ->
receipt -> receiver -> correlator -> record), checked against the vendors' own code: the Messages API
route with its signed status webhooks, validity periods and expiry on each route, Twilio callbacks
signed by twilio-python's RequestValidator (SHA-1, SharedKey SHA-256, repeated names), Vonage
receipts signed by the vonage SDK with every method, signed conversions, late receipts re-sent with
their first signature, and the autofill lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import requests
from twilio.request_validator import RequestValidator
from vonage_http_client import Auth

from pinrelay_ops.simulator import Simulator
from pinrelay_ops.simulator.config import DEFAULT_API_KEY, DEFAULT_APPLICATION_ID, DEFAULT_TWILIO_AUTH_TOKEN
from tests.support.commands import command_env, run
from tests.support.routes import MESSAGES_STATUS_PATH, SIGNATURE_SECRET, RouteStacks, messages_application
from tests.support.sim import simulator
from tests.support.waiting import wait_for
from worker.local.supervisor import Stack

TO = "16365553226"
SHARED_KEY = "twilio-shared-key-secret-0123456789"
SHARED_KEY_HEADER = "key=webhooks_sharedkey_00000000000000000000000000000004,algorithm=HMAC_SHA256"
VONAGE_SDK_METHODS = ("md5", "sha1", "sha256", "sha512")  # vonage_http_client.Auth's signature_method


class MultiDict(dict[str, list[str]]):
    """A form with repeated names as a web framework hands it to RequestValidator (``getall``)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


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


def test_messages_route_to_delivered_with_its_signed_status_webhooks(
        stacks: RouteStacks, fresh: Simulator, tmp_path: Path) -> None:
    """PINRELAY_ROUTES=messages: an RS256 JWT as the application, the JSON body with `ttl` the PIN's
    remaining lifetime, HS256-signed status webhooks through the receiver, the record `delivered` with
    the price; a forged or unsigned webhook is 401 and changes nothing."""
    fresh.configure(dlr_mix={"delivered": 1.0}, dlr_delay_s=0.05, message_price="0.0333")
    live = stacks.start(fresh, ("messages",), receiver=True, **messages_application(fresh, tmp_path))
    rid = live.producer.send_pin(TO, "864209", "msg-e2e", expires_in=120)
    record = live.wait_state(rid, {"delivered"})
    [call] = fresh.requests("messages")
    body, claims = call["json"], call["jwt_claims"]
    assert (call["auth"], claims["application_id"]) == ("jwt", DEFAULT_APPLICATION_ID)
    assert claims["exp"] - claims["iat"] == 900
    assert (body["channel"], body["message_type"], body["to"]) == ("sms", "text", TO)
    assert body["from"] == "12015550123"
    assert body["text"] == "Your code is 864209" and body["client_ref"] == "msg-e2e"
    assert 110 <= body["ttl"] <= 120 and call["validity_s"] == body["ttl"]
    assert (record["route"], record["message_id"]) == ("messages", call["message_id"])
    assert (record["price"], record["err_code"]) == ("0.0333", "0")
    hooks = [r for r in fresh.receipts() if r["route"] == "messages"]
    assert [r["status"] for r in hooks] == ["submitted", "delivered"]
    assert all(r["last_http_status"] == 200 for r in hooks)
    assert all(r["headers"]["Authorization"].startswith("Bearer ") for r in hooks)
    url = f"{live.stack.webhook_url}{MESSAGES_STATUS_PATH}"
    forged = json.dumps({"message_uuid": record["message_id"], "to": TO, "from": "12015550123",
                         "status": "rejected", "channel": "sms"}).encode()
    other_secret = jwt.encode({"iat": int(time.time()), "jti": "x"}, "another-secret-of-32-bytes-length!",
                              algorithm="HS256")
    for headers in ({"Authorization": f"Bearer {other_secret}"}, {}):
        headers["Content-Type"] = "application/json"
        answer = requests.post(url, data=forged, headers=headers, timeout=5)
        assert answer.status_code == 401, answer.text
    assert live.producer.get_status(rid)["state"] == "delivered"


def test_a_messages_route_without_its_private_key_stops_the_worker(redis_url: str, tmp_path: Path) -> None:
    """`pinrelay worker` with PINRELAY_ROUTES=messages: an application id without its key, and a key
    file that is no key, each exit 2 naming the variable."""
    from tests.support.settings import isolated_settings

    local = "http://127.0.0.1:9"
    settings = isolated_settings(redis_url, api_url=local, conversion_url=local, messages_url=local,
                                 sms_from="12015550123")
    bad_key = tmp_path / "not-a-key.pem"
    bad_key.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    app = {"PINRELAY_VONAGE_APPLICATION_ID": DEFAULT_APPLICATION_ID}
    cases = [(app, "PINRELAY_VONAGE_APPLICATION_ID and PINRELAY_VONAGE_PRIVATE_KEY go together"),
             ({**app, "PINRELAY_VONAGE_PRIVATE_KEY": str(bad_key)},
              f"PINRELAY_VONAGE_PRIVATE_KEY='{bad_key}': not an unencrypted PEM private key")]
    for extra, expected in cases:
        result = run(command_env(settings, PINRELAY_ROUTES="messages", **extra), "worker")
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_each_route_sends_the_pins_remaining_lifetime_and_maps_the_expiry(
        stacks: RouteStacks, tmp_path: Path) -> None:
    """A PIN valid for 4 more seconds: the SMS API gets `ttl` 20000 (its minimum), Twilio
    `ValidityPeriod` 3, the Messages API `ttl` 20; receipts slower than that come back in each
    provider's expiry words (DLR `expired`, Twilio `failed` 30036, Messages `rejected` 1360) and
    every record ends `expired`."""
    routes = ("sms", "twilio", "messages")
    with simulator() as sms_sim, simulator() as twilio_sim, simulator() as messages_sim:
        sims = dict(zip(routes, (sms_sim, twilio_sim, messages_sim), strict=True))
        lives = {}
        for route, sim in sims.items():
            sim.configure(dlr_mix={"delivered": 1.0}, dlr_delay_s=21.0)
            extra = messages_application(sim, tmp_path) if route == "messages" else {}
            lives[route] = stacks.start(sim, (route,), receiver=True, **extra)
        rids = {route: live.producer.send_pin(TO, "246813", f"exp-{route}", expires_in=4)
                for route, live in lives.items()}
        calls = {route: wait_for(lambda s=sim, r=route: s.requests(r), what=f"{route}'s request")[0]
                 for route, sim in sims.items()}
        assert (calls["sms"]["params"]["ttl"], calls["sms"]["validity_s"]) == ("20000", 20.0)
        assert (calls["twilio"]["params"]["ValidityPeriod"], calls["twilio"]["validity_s"]) == ("3", 3.0)
        assert (calls["messages"]["json"]["ttl"], calls["messages"]["validity_s"]) == (20, 20.0)
        records = {route: lives[route].wait_state(rid, {"expired"}, timeout=40)
                   for route, rid in rids.items()}
    codes = {route: r["err_code"] for route, r in records.items()}
    assert codes == {"sms": "1", "twilio": "30036", "messages": "1360"}


def _post_twilio(url: str, form: list[tuple[str, str]], key: str, *, shared: bool) -> requests.Response:
    """POST ``form`` to ``url`` signed by twilio-python: with a SharedKey and HMAC-SHA256 (its settings
    header), or SHA-1 with the auth token."""
    params = MultiDict()
    for name, value in form:
        params.setdefault(name, []).append(value)
    algorithm = "HMAC_SHA256" if shared else "HMAC_SHA1"
    headers = {"X-Twilio-Signature": RequestValidator(key).compute_signature(url, params, algorithm)}
    if shared:
        headers["X-Twilio-Webhooks-Signature-Settings"] = SHARED_KEY_HEADER
    return requests.post(url, data=form, headers=headers, timeout=5)


def test_twilio_callbacks_signed_by_twilio_python_sha1_and_sha256_repeated_names(
        stacks: RouteStacks, fresh: Simulator) -> None:
    """With PINRELAY_TWILIO_SIGNING_KEY: the simulator's own SharedKey callbacks (HMAC-SHA256 and a
    repeated `Tag`) settle a send; callbacks signed by RequestValidator are accepted and applied, SHA-1
    with the auth token (no settings header) and HMAC-SHA256 with the SharedKey (with it), repeated
    names included, `failed` 30036 as `expired`; tampered, or the wrong key for the header: 403."""
    fresh.configure(dlr_mix={"delivered": 1.0}, dlr_delay_s=0.05, twilio_signing_key=SHARED_KEY,
                    twilio_callback_params={"Tag": ("b", "a", "b")})
    live = stacks.start(fresh, ("twilio",), receiver=True, twilio_signing_key=SHARED_KEY)
    first = live.producer.send_pin(TO, "111222", "tw-shared")
    assert live.wait_state(first, {"delivered"})["route"] == "twilio"
    assert all(r["headers"]["X-Twilio-Webhooks-Signature-Settings"].endswith("HMAC_SHA256")
               for r in fresh.receipts())
    fresh.configure(dlr_mix={"accepted": 1.0})  # from here on only `sent`: the test posts the rest
    url = live.settings.twilio_status_url or ""
    sids: dict[str, tuple[str, str]] = {}
    for name in ("sha1", "sha256", "repeated", "expired"):
        rid = live.producer.send_pin(TO, f"33{len(sids)}444", f"tw-{name}")
        sids[name] = (rid, live.wait_state(rid, {"submitted", "accepted"})["message_id"])

    def callback(name: str, status: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
        sid = sids[name][1]
        return [("MessageSid", sid), ("MessageStatus", status), ("SmsSid", sid), ("To", "+" + TO),
                ("From", "+12015550123"), ("AccountSid", "AC00000000000000000000000000000001"), *extra]

    sha1 = _post_twilio(url, callback("sha1", "delivered"), DEFAULT_TWILIO_AUTH_TOKEN, shared=False)
    assert sha1.status_code == 200
    assert _post_twilio(url, callback("sha256", "delivered"), SHARED_KEY, shared=True).status_code == 200
    tags = (("Tag", "x"), ("Tag", "y"), ("Tag", "x"))
    repeated = callback("repeated", "undelivered", ("ErrorCode", "30005"), *tags)
    assert _post_twilio(url, repeated, SHARED_KEY, shared=True).status_code == 200
    expired = callback("expired", "failed", ("ErrorCode", "30036"))
    tampered = [(k, "delivered" if k == "MessageStatus" else v) for k, v in expired]
    signed = _post_twilio(url, expired, SHARED_KEY, shared=True).request.headers
    assert requests.post(url, data=tampered, headers=dict(signed), timeout=5).status_code == 403
    # the SharedKey header with an auth-token signature: the validators pick the SharedKey secret
    wrong_key = _post_twilio(url, callback("sha1", "failed"), DEFAULT_TWILIO_AUTH_TOKEN, shared=True)
    assert wrong_key.status_code == 403
    settled = {"delivered", "failed", "expired"}
    states = {name: live.wait_state(rid, settled) for name, (rid, _) in sids.items()}
    assert {name: r["state"] for name, r in states.items()} == {
        "sha1": "delivered", "sha256": "delivered", "repeated": "failed", "expired": "expired"}
    assert (states["repeated"]["err_code"], states["expired"]["err_code"]) == ("30005", "30036")


def _receiver_with_method(live_stack: Stack, method: str, log_dir: Path) -> Stack:
    """Another `pinrelay webhook` on the stack's Redis and key prefix, checking signatures with ``method``."""
    other = Stack(live_stack.settings.replace(signature_method=method), log_dir=log_dir)
    other.start_webhook()
    return other


def test_vonage_receipts_signed_by_the_sdk_with_every_method_are_applied(
        stacks: RouteStacks, fresh: Simulator, tmp_path: Path) -> None:
    """A DLR signed by vonage's own `Auth.sign_params` with each of its methods (HMAC md5, sha1,
    sha256, sha512; it has no plain md5hash), over GET, form or JSON, sent to a `pinrelay webhook`
    checking that method: applied, the record `delivered`; the same DLR with a param changed is 401."""
    live = stacks.start(fresh, ("sms",), receiver=True, signature_secret=SIGNATURE_SECRET,
                        signature_method="sha256")
    fresh.configure(dlr_url="")  # no receipts from the simulator: the SDK signs them here
    receivers: list[Stack] = []
    try:
        for i, method in enumerate(VONAGE_SDK_METHODS):
            receiver = (live.stack if method == "sha256"
                        else _receiver_with_method(live.stack, method, tmp_path / f"receiver-{method}"))
            receivers += [receiver] if receiver is not live.stack else []
            rid = live.producer.send_pin(TO, f"55{i}666", f"dlr-{method}")
            mid = live.wait_state(rid, {"submitted"})["message_id"]
            params: dict[str, Any] = {
                "msisdn": TO, "to": "12015550123", "messageId": mid, "status": "delivered", "err-code": "0",
                "client-ref": f"dlr-{method}", "nonce": f"n-{method}-{rid}", "api-key": DEFAULT_API_KEY,
                "message-timestamp": "2026-01-01 00:00:00"}
            auth = Auth(api_key=DEFAULT_API_KEY, signature_secret=SIGNATURE_SECRET, signature_method=method)
            params["sig"] = auth.sign_params(params)  # adds `timestamp` (now) and signs every param
            params = {k: str(v) for k, v in params.items()}
            url = f"{receiver.webhook_url}/delivery-receipt-webhook"
            tampered = {**params, "err-code": "1", "nonce": params["nonce"] + "x"}
            assert requests.get(f"{url}?{urlencode(tampered)}", timeout=5).status_code == 401
            transport = ("get", "form", "json", "get")[i % 4]
            if transport == "get":
                answer = requests.get(f"{url}?{urlencode(params)}", timeout=5)
            elif transport == "form":
                answer = requests.post(url, data=params, timeout=5)
            else:
                answer = requests.post(url, json=params, timeout=5)
            assert (answer.status_code, answer.json()) == (200, {"status": "ok"}), (method, transport)
            assert live.wait_state(rid, {"delivered"})["err_code"] == "0"
    finally:
        for receiver in receivers:
            receiver.stop()


def test_signed_conversions_pass_an_account_that_requires_signing(
        stacks: RouteStacks, fresh: Simulator) -> None:
    """`--conversion-signing-required`: with PINRELAY_API_SIGNATURE_SECRET the conversion is signed
    (`sig`, no `api_secret`) and reported; without it the same account refuses it (401)."""
    fresh.configure(conversion_signing_required=True, signature_secret=SIGNATURE_SECRET,
                    signature_method="sha256", dlr_url="")
    signed = stacks.start(fresh, ("sms",), callbacks=True, api_signature_secret=SIGNATURE_SECRET,
                          api_signature_method="sha256")
    plain = stacks.start(fresh, ("sms",), callbacks=True)
    outcomes = []
    for live in (signed, plain):
        rid = live.producer.send_pin(TO, "777888", "conv")
        live.wait_state(rid, {"submitted"})
        live.producer.report_conversion(rid)
        outcomes.append(wait_for(lambda lv=live, r=rid: lv.producer.get_status(r).get("conversion_status"),
                                 what="the conversion's outcome"))
    assert outcomes[0] == "reported" and outcomes[1].startswith("failed: HTTP 401")
    first, second = fresh.conversions()
    assert (first["auth"], first["http_status"]) == ("signature", 200)
    assert "api_secret" not in first["params"] and first["params"]["sig"]
    assert (second["auth"], second["http_status"]) == ("body", 401)


def test_a_late_receipt_resent_with_its_first_signature_is_held_then_applied(
        stacks: RouteStacks, fresh: Simulator, redis_url: str) -> None:
    """`--dlr-retry-same-signature` after a receiver outage longer than PINRELAY_SIGNATURE_WINDOW:
    the retry carries the first push's timestamp and signature; it is answered 200 `late` (so the
    provider stops), kept as a `late_signature` dead letter, and `pinrelay dead apply receipts`
    settles the send; a replay of it is `duplicate`."""
    live = stacks.start(fresh, ("sms",), receiver=True, signature_secret=SIGNATURE_SECRET,
                        signature_method="sha256", signature_window_s=2)
    fresh.configure(dlr_mix={"delivered": 1.0}, dlr_delay_s=0.05, dlr_resign_retries=False,
                    dlr_retry_initial_s=4.0, signature_secret=SIGNATURE_SECRET, signature_method="sha256")
    port = int((live.stack.webhook_url or "").rsplit(":", 1)[1])
    live.stack.processes["webhook"].stop()
    rid = live.producer.send_pin(TO, "990011", "late-1")
    wait_for(lambda: any(r["attempts"] >= 1 and r["last_http_status"] is None for r in fresh.receipts()),
             what="the first push to fail")
    live.stack.start_webhook(port)
    [receipt] = wait_for(lambda: [r for r in fresh.receipts() if r["last_http_status"] == 200], timeout=20,
                         what="the retry to be answered")
    assert receipt["attempts"] == 2 and receipt["fields"]["sig"]
    assert live.producer.get_status(rid)["state"] == "submitted"
    settings = live.settings
    listed = json.loads(run(command_env(settings), "dead", "list", "receipts").stdout)
    assert [(row["reason"], row["message_id"]) for row in listed] == [
        ("late_signature", receipt["message_id"])]
    replay = requests.get(f"{live.stack.webhook_url}/delivery-receipt-webhook?{urlencode(receipt['fields'])}",
                          timeout=5)
    assert replay.json() == {"status": "duplicate"}
    applied = run(command_env(settings), "dead", "apply", "receipts")
    assert applied.returncode == 0 and json.loads(applied.stdout)["count"] == 1, applied.stderr
    assert live.wait_state(rid, {"delivered"})["err_code"] == "0"


def test_autofill_lines_on_the_text_and_refused_when_they_do_not_fit(
        stacks: RouteStacks, fresh: Simulator, redis_url: str) -> None:
    """PINRELAY_OTP_DOMAIN and PINRELAY_ANDROID_APP_HASH: the SMS ends with the app hash and
    `@example.com #<pin>`; a template that no longer fits one SMS with them stops the worker (exit 2)."""
    live = stacks.start(fresh, ("sms",), otp_domain="Example.com", android_app_hash="FA+9qCX9VSu")
    rid = live.producer.send_pin(TO, "424242", "autofill")
    live.wait_state(rid, {"submitted"})
    [call] = fresh.requests("sms")
    assert call["params"]["text"] == "Your code is 424242\n\nFA+9qCX9VSu\n@example.com #424242"
    long_template = "x" * 120 + " {pin}"
    result = run(command_env(live.settings, PINRELAY_SMS_TEMPLATE=long_template), "worker")
    assert result.returncode == 2 and "PINRELAY_OTP_DOMAIN / PINRELAY_ANDROID_APP_HASH" in result.stderr


def test_demo_runs_on_the_messages_route(redis_url: str, tmp_path: Path) -> None:
    """`pinrelay demo --route messages`: every PIN over the Messages API as the simulator's demo
    application, every one accounted for through its signed status webhooks."""
    from tests.support.settings import cleanup, isolated_settings

    settings = isolated_settings(redis_url, runtime_dir=str(tmp_path))
    try:
        result = run(command_env(settings), "demo", "-n", "6", "--route", "messages")
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        cleanup(client, settings)
        client.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 PINs over messages" in result.stdout and "all 6 sends accounted for" in result.stdout
