"""The vendors' official SDKs against a real `pinrelay sim`: every call pinrelay makes is accepted,
and the simulator's record shows what the SDK sent (docs/provider-routes.md, fidelity table).

twilio 9.x and vonage 4.x (the dev extra) are pointed at the subprocess by
``tests/support/sdks.py``; nothing here is pinrelay's own client code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from vonage_http_client.errors import AuthenticationError
from vonage_messages import Sms, SmsOptions
from vonage_sms import SmsError, SmsMessage

from pinrelay_ops.simulator.config import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
    DEFAULT_TWILIO_FROM,
)
from tests.support.commands import command_env, run
from tests.support.sdks import (
    SIGNATURE_SECRET,
    Catcher,
    RunningSim,
    catcher,
    pinrelay_sim,
    twilio_client,
    vonage_client,
)

TO = "14155550100"
TEXT = "Your code is 481516"
KEY = {"api_key": DEFAULT_API_KEY, "api_secret": DEFAULT_API_SECRET}
SIGNED = {"api_key": DEFAULT_API_KEY, "signature_secret": SIGNATURE_SECRET, "signature_method": "md5"}


@pytest.fixture(scope="module")
def hooks() -> Iterator[Catcher]:
    with catcher() as caught:
        yield caught


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, hooks: Catcher) -> Iterator[RunningSim]:
    with pinrelay_sim(tmp_path_factory.mktemp("sdk-sim"), hooks.url) as sim:
        yield sim


@pytest.fixture
def sim(running: RunningSim, hooks: Catcher) -> RunningSim:
    running.reset()
    hooks.clear()
    return running


def application(sim: RunningSim) -> dict[str, Any]:
    return {"application_id": sim.get("messages-application")["application_id"],
            "private_key": str(sim.key_file)}


def last(sim: RunningSim, route: str) -> dict[str, Any]:
    records: list[dict[str, Any]] = sim.get(f"requests?route={route}")
    return records[-1]


def test_vonage_sms_api_send_is_accepted_with_what_the_sdk_sent(sim: RunningSim) -> None:
    """vonage_sms.Sms.send: a form POST with Basic auth; ttl and trusted-number as the SDK names them."""
    answer = vonage_client(sim.url, **KEY).sms.send(
        SmsMessage(to=TO, from_="12015550123", text=TEXT, ttl=300_000, client_ref="otp-1",
                   trusted_number=True)
    )
    assert answer.messages[0].status == "0"
    record = last(sim, "sms")
    assert record["auth"] == "basic" and record["content_type"] == "application/x-www-form-urlencoded"
    assert record["params"] == {"to": TO, "from": "12015550123", "text": TEXT, "client-ref": "otp-1",
                                "ttl": "300000", "trusted-number": "True"}
    assert record["validity_s"] == 300.0 and record["unknown_params"] == []


def test_vonage_sms_api_signed_send_hits_the_sdks_none_pitfall(sim: RunningSim) -> None:
    """With a signature secret the v4 SDK signs the unset fields as 'None' but sends none of them
    (docs/provider-routes.md §A.6): the signature is wrong, status 14."""
    with pytest.raises(SmsError, match="error code 14"):
        vonage_client(sim.url, **SIGNED).sms.send(SmsMessage(to=TO, from_="12015550123", text=TEXT))
    assert "sig" in last(sim, "sms")["params"]


def test_twilio_messages_create_is_accepted_with_its_validity_period(sim: RunningSim, hooks: Catcher) -> None:
    client = twilio_client(sim.url, DEFAULT_TWILIO_ACCOUNT_SID, DEFAULT_TWILIO_AUTH_TOKEN)
    message = client.messages.create(to=f"+{TO}", from_=DEFAULT_TWILIO_FROM, body=TEXT, validity_period=300,
                                     status_callback=f"{hooks.url}/twilio-status")
    assert message.sid.startswith("SM") and message.status == "queued"
    record = last(sim, "twilio")
    assert record["params"]["ValidityPeriod"] == "300" and record["validity_s"] == 300.0
    assert record["message_id"] == message.sid and record["http_status"] == 201


@pytest.mark.parametrize("auth", ["jwt", "basic"])
def test_vonage_messages_api_send_is_accepted(sim: RunningSim, auth: str) -> None:
    """vonage_messages.Messages.send: JSON to /v1/messages with the application's RS256 JWT, or Basic."""
    credentials = application(sim) if auth == "jwt" else KEY
    sms = Sms(to=TO, from_="12015550123", text=TEXT, ttl=300, client_ref="otp-2",
              sms=SmsOptions(encoding_type="text"))
    answer = vonage_client(sim.url, **credentials).messages.send(sms)
    record = last(sim, "messages")
    assert record["http_status"] == 202 and record["message_id"] == answer.message_uuid
    assert record["auth"] == auth and record["content_type"] == "application/json"
    assert record["json"] == {"to": TO, "from": "12015550123", "text": TEXT, "ttl": 300,
                              "client_ref": "otp-2", "sms": {"encoding_type": "text"}, "channel": "sms",
                              "message_type": "text"}
    assert record["validity_s"] == 300.0
    if auth == "jwt":
        claims = record["jwt_claims"]
        assert claims["application_id"] == credentials["application_id"] and claims["jti"]
        assert claims["exp"] - claims["iat"] == 15 * 60  # vonage_jwt's default lifetime


def test_vonage_messages_api_refuses_a_jwt_from_another_key(sim: RunningSim, tmp_path: Path) -> None:
    """A JWT signed with some other private key: 401 problem JSON, which the SDK raises."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "other.key").write_bytes(other)
    credentials = {**application(sim), "private_key": str(tmp_path / "other.key")}
    with pytest.raises(AuthenticationError) as raised:
        vonage_client(sim.url, **credentials).messages.send(Sms(to=TO, from_="12015550123", text=TEXT))
    problem = raised.value.response.json()
    assert problem["title"] == "Unauthorized" and "invalid JWT" in problem["detail"]
    assert raised.value.response.headers["Content-Type"] == "application/problem+json"
    assert last(sim, "messages")["accepted"] is False


@pytest.mark.parametrize(("credentials", "auth"), [(KEY, "basic"), (SIGNED, "signature")])
def test_vonage_conversion_from_the_sdk_is_accepted(
    sim: RunningSim, credentials: dict[str, str], auth: str
) -> None:
    """vonage_sms.Sms.submit_sms_conversion: a form POST, Basic auth or signed (its own sig)."""
    client = vonage_client(sim.url, **credentials)
    message_id = vonage_client(sim.url, **KEY).sms.send(SmsMessage(to=TO, from_="12015550123", text=TEXT))
    client.sms.submit_sms_conversion(message_id.messages[0].message_id, delivered=True)
    call = sim.get("conversions")[-1]
    assert call["http_status"] == 200 and call["auth"] == auth and call["known_message"] is True
    assert call["params"]["delivered"] == "True"
    assert call["content_type"] == "application/x-www-form-urlencoded"
    assert ("sig" in call["params"]) == (auth == "signature")


def test_conversion_signing_required_refuses_the_unsigned_sdk_call(sim: RunningSim) -> None:
    sim.configure(conversion_signing_required=True)
    with pytest.raises(AuthenticationError):
        vonage_client(sim.url, **KEY).sms.submit_sms_conversion("0A0000001234567B")
    vonage_client(sim.url, **SIGNED).sms.submit_sms_conversion("0A0000001234567B")
    assert [c["http_status"] for c in sim.get("conversions")] == [401, 200]


def test_a_wrong_port_fails_fast_not_after_a_timeout(sim: RunningSim) -> None:
    """The SDKs as configured here never wait long: a closed port is refused at once."""
    dead = "http://127.0.0.1:9"  # discard: nothing listens
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        vonage_client(dead, **KEY).sms.send(SmsMessage(to=TO, from_="12015550123", text=TEXT))
    with pytest.raises(requests.ConnectionError):
        twilio_client(dead, DEFAULT_TWILIO_ACCOUNT_SID, DEFAULT_TWILIO_AUTH_TOKEN).messages.create(
            to=f"+{TO}", from_=DEFAULT_TWILIO_FROM, body=TEXT)
    assert time.monotonic() - started < 5


def test_the_demo_private_key_file_is_private_pkcs8(sim: RunningSim) -> None:
    """`pinrelay sim --vonage-private-key-out` wrote the key the control endpoint serves, mode 0600."""
    pem = sim.key_file.read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert sim.key_file.stat().st_mode & 0o777 == 0o600
    assert sim.get("messages-application")["private_key"] == pem
    assert f"private key written to {sim.key_file}" in sim.command.stdout()


def test_sim_verifies_jwts_with_a_given_public_key(tmp_path: Path, hooks: Catcher) -> None:
    """`pinrelay sim --vonage-public-key FILE`: the matching private key's JWT is accepted, and the
    control endpoint has no private key to give; an unreadable key file is exit 2, said plainly."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "app.key").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "app.pub").write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pinrelay_sim(tmp_path, hooks.url, "--vonage-public-key", str(tmp_path / "app.pub"),
                      started="configured public key") as own:
        app = own.get("messages-application")
        assert app["private_key"] is None and not own.key_file.exists()
        client = vonage_client(own.url, application_id=app["application_id"],
                               private_key=str(tmp_path / "app.key"))
        assert client.messages.send(Sms(to=TO, from_="12015550123", text=TEXT)).message_uuid
    bad = run(command_env(), "sim", "--port", "0", "--vonage-public-key", str(tmp_path / "missing.pub"))
    assert bad.returncode == 2 and "--vonage-public-key" in bad.stderr and "Traceback" not in bad.stderr


def test_node_sdk_style_sms_send_json_with_basic_auth(sim: RunningSim) -> None:
    """What @vonage/sms sends (packages/sms/lib/sms.ts): kebab-cased keys as a JSON body, Basic auth."""
    body = {"to": TO, "from": "12015550123", "text": TEXT, "ttl": 300000, "trusted-number": True}
    answer = requests.post(f"{sim.url}/sms/json", json=body, auth=(DEFAULT_API_KEY, DEFAULT_API_SECRET),
                           timeout=5)
    assert answer.json()["messages"][0]["status"] == "0"
    record = last(sim, "sms")
    assert record["auth"] == "basic" and record["content_type"] == "application/json"
    assert record["params"]["trusted-number"] == "true" and record["validity_s"] == 300.0
