"""ops/kratos/pinrelay-sms.jsonnet under the real Jsonnet evaluator, on the context Ory Kratos
builds for each SMS template type (tests/support/kratos.py names the Kratos files it follows:
courier/http_channel.go, courier/template/sms/*.go, selfservice/strategy/code/code_sender.go).

The output must be exactly the body `POST /v1/pins` takes (to, pin, client_ref), and a message
without a code must fail in the template, naming its type, rather than post anything.
"""

from __future__ import annotations

import json

import pytest

from tests.support.kratos import CODE_FIELD, courier_channel, courier_headers, evaluate, message_context
from worker.enqueue.request import validate_number

PHONE = "+16365553226"
IDENTITY = "6481a5c1-3d37-4a56-9f6a-bee08c554965"
WITH_CODE = sorted(t for t, field in CODE_FIELD.items() if field)
WITHOUT_CODE = sorted(t for t, field in CODE_FIELD.items() if not field)


@pytest.mark.parametrize("template_type", WITH_CODE)
def test_each_code_template_becomes_a_pins_body(template_type: str) -> None:
    """to without '+', the code as pin, the identity id as client_ref; nothing else."""
    body = json.loads(evaluate(message_context(template_type, PHONE, "012345", IDENTITY)))
    expected = {"to": "16365553226", "pin": "012345", "client_ref": IDENTITY}
    if template_type == "registration_code_valid":
        del expected["client_ref"]  # Kratos passes only the traits: there is no identity id yet
    assert body == expected
    assert validate_number(body["to"]) == "16365553226"  # the form pinrelay's API validates


def test_the_recovery_code_is_read_where_kratos_puts_it() -> None:
    """RecoveryCodeValidModel marshals RecoveryCode as "verification_code"; a renamed field wins."""
    ctx = message_context("recovery_code_valid", PHONE, "445566", IDENTITY)
    assert json.loads(evaluate(ctx))["pin"] == "445566"
    ctx["template_data"]["recovery_code"] = "778899"
    assert json.loads(evaluate(ctx))["pin"] == "778899"


@pytest.mark.parametrize("template_type", [*WITHOUT_CODE, "stub"])
def test_a_message_without_a_code_fails_in_the_template(template_type: str) -> None:
    """Notifications (and Kratos's test stub) are refused with their type in the error."""
    ctx = (message_context(template_type, PHONE, identity_id=IDENTITY) if template_type != "stub" else
           {"recipient": PHONE, "template_type": "stub", "message_type": "sms",
            "template_data": {"to": PHONE, "body": "hello", "identity": {}}})
    with pytest.raises(RuntimeError, match=f'template type "{template_type}" carries no code'):
        evaluate(ctx)


def test_a_code_template_without_its_code_fails_rather_than_posting_junk() -> None:
    ctx = message_context("login_code_valid", PHONE, "", IDENTITY)
    with pytest.raises(RuntimeError, match='"login_code_valid" has no login_code'):
        evaluate(ctx)
    del ctx["template_data"]
    with pytest.raises(RuntimeError, match="has no login_code"):
        evaluate(ctx)


def test_only_sms_and_only_with_a_recipient() -> None:
    ctx = message_context("login_code_valid", PHONE, "012345", IDENTITY)
    with pytest.raises(RuntimeError, match='message_type "email" is not an SMS'):
        evaluate({**ctx, "message_type": "email"})
    ctx["recipient"] = ""
    assert json.loads(evaluate(ctx))["to"] == "16365553226"  # template_data.to stands in
    del ctx["template_data"]["to"]
    with pytest.raises(RuntimeError, match="has no recipient"):
        evaluate(ctx)


def test_client_ref_is_only_a_uuid_shaped_identity_id() -> None:
    """A trait called "id" (registration passes traits as identity) never becomes client_ref."""
    ctx = message_context("registration_code_valid", PHONE, "012345")
    ctx["template_data"]["identity"]["id"] = "not-an-id; 40 characters long, or more!!"
    assert "client_ref" not in json.loads(evaluate(ctx))


def test_the_courier_config_posts_to_v1_pins_with_a_bearer_key() -> None:
    """The shipped channel: id sms, type http, POST .../v1/pins, the template, api_key auth."""
    channel = courier_channel()
    request = channel["request_config"]
    assert (channel["id"], channel["type"], request["method"]) == ("sms", "http", "POST")
    assert request["url"].endswith("/v1/pins") and request["body"].endswith("/pinrelay-sms.jsonnet")
    expected = {"Content-Type": "application/json", "Authorization": "Bearer pk_test"}
    assert courier_headers("pk_test") == expected
