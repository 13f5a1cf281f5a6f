"""X-Twilio-Signature: Twilio's own test vectors (docs/provider-routes.md §D.1) and the port/body rules
of B.5."""

from __future__ import annotations

import pytest

from webhook.twilio.signature import body_sha256, signing_string, twilio_signature, verify_twilio

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"  # twilio-python tests/unit/test_request_validator.py
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
T1 = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
T2 = "kvajT1Ptam85bY51eRf/AJRuM3w="
BODY = b'{"property": "value", "boolean": true}'
CALLBACK = {
    "AccountSid": "AC00000000000000000000000000000001",
    "ApiVersion": "2010-04-01",
    "ErrorCode": "30003",
    "From": "+12015550123",
    "MessageSid": "SM00000000000000000000000000000002",
    "MessageStatus": "undelivered",
    "SmsSid": "SM00000000000000000000000000000002",
    "SmsStatus": "undelivered",
    "To": "+14155550100",
}


def test_form_vector_t1() -> None:
    """Twilio's form-POST vector signs to RSOYDt4T1cUTdK1PDd93/VVr8B8= and verifies."""
    assert twilio_signature(TOKEN, URL, PARAMS) == T1
    assert verify_twilio(TOKEN, URL, PARAMS, T1)


def test_default_port_vector_t2() -> None:
    """With :443 added the signature is T2; either URL form verifies either signature."""
    with_port = URL.replace(".com", ".com:443")
    assert twilio_signature(TOKEN, with_port, PARAMS) == T2
    for url in (URL, with_port):
        assert verify_twilio(TOKEN, url, PARAMS, T1) and verify_twilio(TOKEN, url, PARAMS, T2)


def test_repeated_values_vector_t3() -> None:
    """A repeated name contributes each distinct value, sorted (T3)."""
    params = {"Sid": "CA123", "SidAccount": "AC123", "Digits": ["5678", "1234", "1234"]}
    assert twilio_signature(TOKEN, URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_json_body_vector_t4() -> None:
    """A JSON body is hashed into bodySHA256; the URL alone is signed, and the hash must match."""
    digest = body_sha256(BODY)
    assert digest == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = f"{URL}&bodySHA256={digest}"
    signature = twilio_signature(TOKEN, url, {})
    assert signature == "a9nBmqA0ju/hNViExpshrM61xv4="
    assert verify_twilio(TOKEN, url, {}, signature, body=BODY)
    assert not verify_twilio(TOKEN, url, {}, signature, body=BODY + b" ")
    assert not verify_twilio(TOKEN, URL, {}, twilio_signature(TOKEN, URL, {}), body=BODY)


def test_status_callback_vector_t5() -> None:
    """The constructed status-callback vector (cross-checked against twilio-python) matches."""
    url = "https://otp.example.com/twilio/status?route=tw1"
    token = "test_auth_token_0123456789abcdef"
    assert twilio_signature(token, url, CALLBACK) == "rlrjFrywngivlnMDp+RKAH84Ag0="
    assert verify_twilio(token, url, CALLBACK, "rlrjFrywngivlnMDp+RKAH84Ag0=")


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("54321", URL, PARAMS, T1),  # wrong token
        (TOKEN, URL.replace("foo=1", "foo=2"), PARAMS, T1),  # another URL
        (TOKEN, URL, dict(PARAMS, Digits="1235"), T1),  # a changed value
        (TOKEN, URL, dict(PARAMS, Extra="x"), T1),  # an added param
        (TOKEN, URL, PARAMS, ""),  # no signature
        (TOKEN, URL, PARAMS, T1.lower()),  # base64 is case-sensitive
    ],
)
def test_anything_changed_fails(token: str, url: str, params: dict[str, str], signature: str) -> None:
    """A different token, URL, value, extra param, empty or re-cased signature does not verify."""
    assert not verify_twilio(token, url, params, signature)


def test_signing_string_has_no_separators() -> None:
    """The string is the URL then name+value pairs in code-point order (uppercase before lowercase)."""
    assert signing_string("https://h/p", {"b": "2", "B": "1", "a": ["y", "x"]}) == "https://h/pB1axayb2"


def test_non_default_port_and_userinfo_are_kept() -> None:
    """A URL on port 8099 with user:pass@ verifies as signed; IPv6 hosts keep their brackets."""
    url = "http://user:pw@127.0.0.1:8099/twilio-status-webhook?x=1"
    assert verify_twilio(TOKEN, url, PARAMS, twilio_signature(TOKEN, url, PARAMS))
    assert verify_twilio(TOKEN, url, PARAMS, twilio_signature(TOKEN, url.replace(":8099", ""), PARAMS))
    ipv6 = "https://[::1]/cb"
    assert verify_twilio(TOKEN, ipv6, {}, twilio_signature(TOKEN, "https://[::1]:443/cb", {}))
