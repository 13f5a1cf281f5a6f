"""The Messages API route's rules without sockets: body checks, JWT/Basic auth, webhook plans and signing."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from typing import Any

import jwt
import pytest
from vonage_jwt import JwtClient, verify_signature

from pinrelay_ops.simulator import SimConfig, SimConfigError
from pinrelay_ops.simulator.http.exchange import Inbound
from pinrelay_ops.simulator.messages.auth import check_auth
from pinrelay_ops.simulator.messages.checks import check_body, unknown_fields
from pinrelay_ops.simulator.messages.keys import ApplicationKeys, load_public_key
from pinrelay_ops.simulator.messages.signing import bearer
from pinrelay_ops.simulator.messages.webhooks import (
    EXPIRED,
    MessagesSend,
    plan_webhooks,
    status_url,
)
from pinrelay_ops.simulator.receipts.expiry import expires, validity_s
from pinrelay_ops.simulator.receipts.payload import json_body, payload_for

KEYS = ApplicationKeys()  # one demo pair for the module: RSA generation costs ~0.1 s
GOOD = {"channel": "sms", "message_type": "text", "to": "14155550100", "from": "12015550123",
        "text": "Your code is 481516"}
SECRET = "Ex4mpleSigSecret0123456789abcdef"


def inbound(authorization: str) -> Inbound:
    return Inbound("POST", "/v1/messages", "", "application/json", b"{}", time.time(),
                   {"authorization": authorization})


def sdk_token(application_id: str, **claims: Any) -> str:
    """A JWT as vonage_jwt makes it for the application (RS256, application_id/iat/jti/exp)."""
    client = JwtClient(application_id, KEYS.demo_private_pem().decode())
    return client.generate_application_jwt(claims).decode()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "whatsapp"}, "channel"),
        ({"to": "+14155550100"}, "to"),
        ({"from": "TooLongSenderName"}, "from"),
        ({"text": ""}, "text"),
        ({"ttl": 19}, "ttl"),
        ({"ttl": "300"}, "ttl"),
        ({"client_ref": "x" * 101}, "client_ref"),
        ({"webhook_url": "ftp://x"}, "webhook_url"),
        ({"sms": {"encoding_type": "utf8"}}, "sms.encoding_type"),
        ({"trusted_recipient": "yes"}, "trusted_recipient"),
    ],
)
def test_each_broken_field_is_named(change: dict[str, Any], field: str) -> None:
    assert [name for name, _ in check_body({**GOOD, **change})] == [field]


def test_a_good_body_passes_and_unknown_fields_are_listed() -> None:
    assert check_body({**GOOD, "ttl": 300, "client_ref": "r", "sms": {"encoding_type": "auto"}}) == []
    assert unknown_fields({**GOOD, "extra": 1}) == ["extra"]
    assert [name for name, _ in check_body({})] == ["channel", "message_type", "to", "from", "text"]


def test_jwt_from_the_sdk_is_accepted_and_its_claims_kept() -> None:
    config = SimConfig()
    result = check_auth(inbound(f"Bearer {sdk_token(config.vonage_application_id)}"), config, KEYS)
    assert result.kind == "jwt" and result.failure is None
    assert result.claims["application_id"] == config.vonage_application_id


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer not.a.jwt", "invalid JWT"),
        ("", "no Authorization header"),
        ("Basic " + base64.b64encode(b"demo-key:wrong-secret").decode(), "wrong api key or secret"),
    ],
)
def test_bad_credentials_are_refused(header: str, reason: str) -> None:
    assert reason in (check_auth(inbound(header), SimConfig(), KEYS).failure or "")


def test_jwt_for_another_application_or_expired_is_refused() -> None:
    config = SimConfig()
    other = check_auth(inbound(f"Bearer {sdk_token('another-app')}"), config, KEYS)
    assert other.failure and "application_id" in other.failure
    old = sdk_token(config.vonage_application_id, iat=int(time.time()) - 3600, exp=int(time.time()) - 600)
    assert "expired" in (check_auth(inbound(f"Bearer {old}"), config, KEYS).failure or "")


def test_basic_auth_with_the_account_key_is_accepted() -> None:
    header = "Basic " + base64.b64encode(b"demo-key:demo-secret-0123").decode()
    result = check_auth(inbound(header), SimConfig(), KEYS)
    assert result.kind == "basic" and result.failure is None


def test_a_configured_public_key_must_be_rsa_pem() -> None:
    with pytest.raises(SimConfigError, match="not a PEM public key"):
        load_public_key("nonsense")
    described = KEYS.describe("app", "")
    assert described["private_key"] and load_public_key(str(described["public_key"]))


def test_webhook_bearer_verifies_with_the_sdk_and_hashes_the_body() -> None:
    body = json_body({"message_uuid": "u", "status": "delivered"})
    token = bearer(body, SECRET, "demo-key", "app-1", now=1_700_000_000)
    assert verify_signature(token, SECRET) and not verify_signature(token, SECRET[::-1])
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims == {"iat": 1_700_000_000, "jti": claims["jti"], "iss": "Vonage",
                      "payload_hash": hashlib.sha256(body).hexdigest(), "api_key": "demo-key",
                      "application_id": "app-1"}


@pytest.mark.parametrize(
    ("outcome", "statuses", "code"),
    [
        ("delivered", ["submitted", "delivered"], None),
        ("accepted", ["submitted"], None),
        ("rejected", ["rejected"], "any"),
        ("expired", ["submitted", "rejected"], 1360),
        ("unknown", ["undeliverable"], 1331),
    ],
)
def test_webhook_plan_per_outcome(outcome: str, statuses: list[str], code: int | str | None) -> None:
    config = SimConfig(dlr_mix={outcome: 1}, signature_secret=SECRET)
    send = MessagesSend("u-1", "14155550100", "12015550123", "ref", 1, "http://127.0.0.1:9/x")
    chain = plan_webhooks(send, config, random.Random(1))
    assert [r.status for r in chain] == statuses
    error = chain[-1].fields.get("error")
    assert (error is None) == (code is None)
    if isinstance(code, int):
        assert error["title"] == code and error["type"].endswith(f"#{code}")
    body, headers = payload_for(chain[0], config)
    assert json.loads(json_body(body))["timestamp"].endswith("Z")
    assert headers["Authorization"].startswith("Bearer ")


def test_forced_expiry_and_where_webhooks_go() -> None:
    config = SimConfig(dlr_url="http://127.0.0.1:8081/delivery-receipt-webhook")
    send = MessagesSend("u-1", "14155550100", "12015550123", None, 2, "http://h/x")
    chain = plan_webhooks(send, config, random.Random(1), EXPIRED)
    assert [r.status for r in chain] == ["submitted", "rejected"]
    assert chain[0].fields["sms"]["count_total"] == "2"
    assert status_url(config, None) == "http://127.0.0.1:8081/messages-status-webhook"
    assert status_url(config, "http://own/hook") == "http://own/hook"
    assert status_url(SimConfig(messages_status_url="http://m/s"), None) == "http://m/s"
    assert status_url(SimConfig(), None) == ""


def test_validity_units_and_expiry() -> None:
    assert validity_s("300000", 0.001) == 300.0 and validity_s("300", 1.0) == 300.0
    assert validity_s(None, 1.0) is None and validity_s("soon", 1.0) is None
    assert expires(1.0, 1.5) and not expires(2.0, 1.5) and not expires(None, 99.0)


def test_a_bad_public_key_knob_is_refused_when_set() -> None:
    with pytest.raises(SimConfigError, match="vonage_public_key"):
        SimConfig(vonage_public_key="-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    good = str(KEYS.describe("app", "")["public_key"])
    assert SimConfig().with_knobs(vonage_public_key=good).vonage_public_key == good
