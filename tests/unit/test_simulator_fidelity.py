"""Simulator knobs checked against the official SDKs' own code: Twilio SharedKey signatures, repeated
callback names, conversions signed by vonage_http_client.Auth, Basic-auth conversions, ValidityPeriod."""

from __future__ import annotations

import base64
import random
import time
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from vonage_http_client import Auth

from pinrelay_ops.simulator import SimConfig, SimConfigError
from pinrelay_ops.simulator.cli import _param_lists
from pinrelay_ops.simulator.http.exchange import Inbound
from pinrelay_ops.simulator.ledger import Ledger
from pinrelay_ops.simulator.receipts.payload import payload_for, shared_key_signature
from pinrelay_ops.simulator.receipts.status_callbacks import TwilioSend, plan_callbacks
from pinrelay_ops.simulator.twilio.checks import check_message
from pinrelay_ops.simulator.vonage.conversions import Conversions

URL = "https://otp.example.com/twilio/status?route=tw1"
KEY = "twilio-shared-key-secret-0123456789"
SECRET = "Ex4mpleSigSecret0123456789abcdef"


class MultiDict(dict[str, list[str]]):
    def getall(self, name: str) -> list[str]:
        return self[name]


@pytest.mark.parametrize("algorithm", ["HMAC_SHA1", "HMAC_SHA256"])
def test_shared_key_signature_is_what_twilio_python_computes(algorithm: str) -> None:
    params = {"MessageSid": "SM1", "MessageStatus": "delivered", "Tag": ("b", "a", "b")}
    ours = shared_key_signature(KEY, algorithm, URL, params)
    multi = MultiDict(MessageSid=["SM1"], MessageStatus=["delivered"], Tag=["b", "a", "b"])
    assert ours == RequestValidator(KEY).compute_signature(URL, multi, algorithm)
    assert RequestValidator(KEY).validate(URL, multi, ours, algorithm=algorithm)


def test_callbacks_carry_the_settings_header_and_repeated_names() -> None:
    config = SimConfig(twilio_signing_key=KEY, twilio_callback_params={"Tag": ["x", "y"], "One": "1"},
                       dlr_mix={"delivered": 1})
    send = TwilioSend("SM1", config.twilio_account_sid, "+14155550100", "+12015550123", None, URL)
    sent = plan_callbacks(send, config, random.Random(1))[0]
    params, headers = payload_for(sent, config)
    assert params["Tag"] == ("x", "y") and params["One"] == "1"
    assert headers["X-Twilio-Webhooks-Signature-Settings"] == (
        f"key={config.twilio_signing_key_sid},algorithm=HMAC_SHA256")
    plain = SimConfig(dlr_mix={"delivered": 1})
    assert "X-Twilio-Webhooks-Signature-Settings" not in payload_for(
        plan_callbacks(send, plain, random.Random(1))[0], plain)[1]


@pytest.mark.parametrize(
    "knobs",
    [{"twilio_signing_algorithm": "HMAC_MD5"}, {"twilio_callback_params": {"Tag": []}},
     {"twilio_callback_params": {"Tag": [1]}}],
)
def test_bad_twilio_knobs_are_refused(knobs: dict[str, Any]) -> None:
    with pytest.raises(SimConfigError):
        SimConfig(**knobs)


def test_cli_callback_params_repeat_a_name_given_twice() -> None:
    assert _param_lists(["Tag=a", "Tag=b", "X=1"]) == {"Tag": ["a", "b"], "X": ["1"]}
    with pytest.raises(SimConfigError, match="NAME=VALUE"):
        _param_lists(["novalue"])


@pytest.mark.parametrize(
    ("value", "code"), [("300", None), ("0", 21624), ("36001", 21624), ("1.5", 21624)]
)
def test_twilio_validity_period_range(value: str, code: int | None) -> None:
    got = {"To": "+14155550100", "From": "+12015550123", "Body": "x", "ValidityPeriod": value}
    failure = check_message(got, SimConfig())
    assert (failure.code if failure else None) == code


def convert(
    config: SimConfig, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, str]:
    """(HTTP status, how the call authenticated) for a form POST of ``body``."""
    ledger = Ledger()
    form = "&".join(f"{k}={v}" for k, v in body.items()).encode()
    answer = Conversions(lambda: config, ledger).handle(
        Inbound("POST", "/conversions/sms", "", "application/x-www-form-urlencoded", form, time.time(),
                headers or {}))
    return answer.status, str(ledger.conversions()[-1]["auth"])


CONVERSION = {"message-id": "0A0000001234567B", "delivered": "True", "timestamp": "2024-01-02 03:04:05"}


def test_conversion_with_basic_auth_as_the_v4_sdk_sends_it() -> None:
    basic = "Basic " + base64.b64encode(b"demo-key:demo-secret-0123").decode()
    assert convert(SimConfig(), CONVERSION, {"authorization": basic}) == (200, "basic")
    wrong = "Basic " + base64.b64encode(b"demo-key:nope").decode()
    assert convert(SimConfig(), CONVERSION, {"authorization": wrong})[0] == 401


def test_conversion_signed_by_the_sdk_and_signing_required() -> None:
    """vonage_http_client.Auth.sign_params (HMAC-md5 by default) over the SDK's own params."""
    config = SimConfig(signature_secret=SECRET, signature_method="md5", conversion_signing_required=True)
    params: dict[str, Any] = {**CONVERSION, "api_key": "demo-key"}
    params["sig"] = Auth(api_key="demo-key", signature_secret=SECRET).sign_params(dict(params))
    assert convert(config, params) == (200, "signature")
    body_creds = {**CONVERSION, "api_key": "demo-key", "api_secret": "demo-secret-0123"}
    assert convert(config, body_creds) == (401, "body")
    assert convert(SimConfig(signature_secret=SECRET), body_creds) == (200, "body")
