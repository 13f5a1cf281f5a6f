"""What `pinrelay sim` pushes back, checked with the vendors' own verifiers: Messages API status webhooks
(vonage_jwt.verify_signature, the payload_hash), Twilio callbacks signed with a SharedKey and
HMAC-SHA256 or with repeated names (twilio.request_validator), expiry by validity period in each
provider's words, and retries that re-send the stored signature."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest
from twilio.request_validator import RequestValidator, get_signature_algorithm
from vonage_jwt import verify_signature
from vonage_messages import Sms
from vonage_sms import SmsMessage

from pinrelay_ops.simulator.config import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
    DEFAULT_TWILIO_FROM,
)
from tests.support.sdks import (
    RECEIPT_PATH,
    SIGNATURE_SECRET,
    Catcher,
    Hit,
    RunningSim,
    catcher,
    pinrelay_sim,
    twilio_client,
    vonage_client,
)
from tests.support.waiting import wait_for

TO = "14155550100"
TEXT = "Your code is 481516"
STATUS_PATH = "/messages-status-webhook"
SHARED_KEY = "twilio-shared-key-secret-0123456789"
FAST = {"dlr_retry_initial_s": 0.05, "dlr_retry_max_s": 0.1}


class MultiDict(dict[str, list[str]]):
    """What a web framework hands RequestValidator for a form with repeated names (``getall``)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def form(hit: Hit) -> MultiDict:
    params = MultiDict()
    for name, value in parse_qsl(hit.body.decode(), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


@pytest.fixture(scope="module")
def hooks() -> Iterator[Catcher]:
    with catcher() as caught:
        yield caught


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, hooks: Catcher) -> Iterator[RunningSim]:
    with pinrelay_sim(tmp_path_factory.mktemp("webhook-sim"), hooks.url) as sim:
        yield sim


@pytest.fixture
def sim(running: RunningSim, hooks: Catcher) -> RunningSim:
    running.reset()
    hooks.clear()
    return running


def send_messages(sim: RunningSim, **fields: Any) -> str:
    app = sim.get("messages-application")
    client = vonage_client(sim.url, application_id=app["application_id"], private_key=str(sim.key_file))
    return client.messages.send(Sms(to=TO, from_="12015550123", text=TEXT, **fields)).message_uuid


def token(hit: Hit) -> str:
    scheme, _, value = hit.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return value


def test_messages_webhooks_verify_with_the_sdk_and_hash_their_body(sim: RunningSim, hooks: Catcher) -> None:
    sim.configure(dlr_mix={"delivered": 1})
    uuid = send_messages(sim, client_ref="otp-9")
    hits = wait_for(lambda: len(hooks.hits(STATUS_PATH)) == 2 and hooks.hits(STATUS_PATH), 10, "2 webhooks")
    bodies = [json.loads(hit.body) for hit in hits]
    assert [b["status"] for b in bodies] == ["submitted", "delivered"]
    app = sim.get("messages-application")["application_id"]
    for hit, body in zip(hits, bodies, strict=True):
        assert hit.headers["content-type"] == "application/json"
        assert verify_signature(token(hit), SIGNATURE_SECRET) is True
        claims = jwt.decode(token(hit), SIGNATURE_SECRET, algorithms=["HS256"])
        assert claims["payload_hash"] == hashlib.sha256(hit.body).hexdigest()
        assert claims["iss"] == "Vonage" and claims["api_key"] == DEFAULT_API_KEY
        assert claims["application_id"] == app and claims["jti"] and "exp" not in claims
        assert body["message_uuid"] == uuid and body["to"] == TO and body["client_ref"] == "otp-9"
        assert body["channel"] == "sms" and body["usage"] == {"currency": "EUR", "price": "0.03330000"}
        assert body["timestamp"].endswith("Z") and "error" not in body
    assert verify_signature(token(hits[0]), "some-other-secret-0123456789abcdef") is False


def test_messages_barred_number_ends_rejected_with_an_error_object(sim: RunningSim, hooks: Catcher) -> None:
    sim.configure(barred=[TO])
    send_messages(sim)
    hit = wait_for(lambda: hooks.hits(STATUS_PATH), 10, "the webhook")[0]
    body = json.loads(hit.body)
    assert body["status"] == "rejected" and "usage" not in body
    assert body["error"]["title"] == 1050 and body["error"]["type"].endswith("#1050")


def test_twilio_callbacks_signed_with_a_shared_key_and_sha256(sim: RunningSim, hooks: Catcher) -> None:
    sim.configure(twilio_signing_key=SHARED_KEY, twilio_callback_params={"Tag": ["b", "a", "b"]},
                  dlr_mix={"delivered": 1})
    url = f"{hooks.url}/twilio-status?route=tw1"
    twilio_client(sim.url, DEFAULT_TWILIO_ACCOUNT_SID, DEFAULT_TWILIO_AUTH_TOKEN).messages.create(
        to=f"+{TO}", from_=DEFAULT_TWILIO_FROM, body=TEXT, status_callback=url)
    hits = wait_for(lambda: len(hooks.hits("/twilio-status?route=tw1")) == 2 and hooks.hits(
        "/twilio-status?route=tw1"), 10, "2 callbacks")
    for hit in hits:
        settings = hit.headers["x-twilio-webhooks-signature-settings"]
        assert settings.endswith(",algorithm=HMAC_SHA256") and settings.startswith("key=webhooks_sharedkey_")
        algorithm = get_signature_algorithm(settings)
        params, signature = form(hit), hit.headers["x-twilio-signature"]
        assert params["Tag"] == ["b", "a", "b"]  # a repeated name, as sent
        assert RequestValidator(SHARED_KEY).validate(url, params, signature, algorithm=algorithm)
        assert not RequestValidator(DEFAULT_TWILIO_AUTH_TOKEN).validate(url, params, signature, algorithm)
        assert not RequestValidator(SHARED_KEY).validate(url, params, signature)  # SHA-1: no


def test_twilio_validity_period_runs_out_as_failed_30036(sim: RunningSim, hooks: Catcher) -> None:
    sim.configure(dlr_delay_s=1.5, dlr_mix={"delivered": 1})
    twilio_client(sim.url, DEFAULT_TWILIO_ACCOUNT_SID, DEFAULT_TWILIO_AUTH_TOKEN).messages.create(
        to=f"+{TO}", from_=DEFAULT_TWILIO_FROM, body=TEXT, validity_period=1,
        status_callback=f"{hooks.url}/twilio-status")
    hit = wait_for(lambda: hooks.hits("/twilio-status"), 10, "the callback")[0]
    params = form(hit)
    assert params["MessageStatus"] == ["failed"] and params["ErrorCode"] == ["30036"]
    assert RequestValidator(DEFAULT_TWILIO_AUTH_TOKEN).validate(
        f"{hooks.url}/twilio-status", params, hit.headers["x-twilio-signature"])
    assert len(hooks.hits("/twilio-status")) == 1  # no `sent`: it never left the queue


def test_vonage_ttls_shorter_than_the_delay_are_planned_to_expire(sim: RunningSim) -> None:
    """SMS API ttl 20 s and Messages API ttl 20 s against a 60 s delay: planned, not yet pushed."""
    sim.configure(dlr_delay_s=60.0, dlr_mix={"delivered": 1})
    vonage_client(sim.url, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET).sms.send(
        SmsMessage(to=TO, from_="12015550123", text=TEXT, ttl=20_000))
    send_messages(sim, ttl=20)
    planned = {(r["route"], r["status"]): r for r in sim.get("receipts")}
    assert planned[("sms", "expired")]["fields"]["err-code"] == "1"
    assert planned[("messages", "rejected")]["fields"]["error"]["title"] == 1360
    assert ("messages", "submitted") in planned and all(r["state"] == "scheduled" for r in planned.values())


@pytest.mark.parametrize("resign", [True, False])
@pytest.mark.parametrize("route", ["sms", "messages"])
def test_retries_are_signed_afresh_or_resend_the_stored_signature(
    sim: RunningSim, hooks: Catcher, route: str, resign: bool
) -> None:
    """A receiver outage answers the first push 503. The retry carries a new signature (DLR:
    timestamp, nonce, sig; Messages: the JWT), or with dlr_resign_retries off the first one again."""
    sim.configure(dlr_resign_retries=resign, dlr_mix={"accepted": 1}, **FAST)  # one receipt each
    hooks.fail_next(1)
    if route == "sms":
        vonage_client(sim.url, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET).sms.send(
            SmsMessage(to=TO, from_="12015550123", text=TEXT))
        path = RECEIPT_PATH
    else:
        send_messages(sim)
        path = STATUS_PATH
    first, retry = wait_for(lambda: len(_hits(hooks, path)) >= 2 and _hits(hooks, path), 10, "the retry")[:2]
    if route == "sms":  # a GET: the signature is in the query
        assert dict(parse_qsl(first.path.partition("?")[2]))["sig"]
        assert (first.path == retry.path) is not resign
    else:
        assert first.body == retry.body  # the status and its timestamp do not change
        assert (first.headers["authorization"] == retry.headers["authorization"]) is not resign
        assert verify_signature(token(retry), SIGNATURE_SECRET)


def _hits(hooks: Catcher, path: str) -> list[Hit]:
    return [hit for hit in hooks.hits() if hit.path.partition("?")[0] == path]
