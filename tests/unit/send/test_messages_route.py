"""The Messages API route (docs/provider-routes.md §E): its JSON body, its application JWT as vonage_jwt
makes it, the validity period every route sends (§V), the autofill lines, and the answers in the
failover table."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import ConfigError, PermanentProviderError, TransientProviderError, UnconfirmedSendError
from worker.send.routes import check_routes
from worker.send.routes.base import Blame, validity_s
from worker.send.routes.messages import MessagesRoute, parse_answer
from worker.send.routes.sms import SmsRoute
from worker.send.routes.templates import Templates, autofill
from worker.send.routes.twilio import TwilioRoute

from .test_routes import TWILIO, FakeTransport, _response, _settings

APP_ID = "00000000-0000-4000-8000-000000000005"
NOW = 1_700_000_000.0


def _key_file(folder: Path, key: object = None) -> Path:
    private = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "app.key"
    path.write_bytes(private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


def _messages(**overrides: object) -> Settings:
    values: dict[str, object] = {"routes": ("messages",), "messages_url": "http://sim",
                                 "sms_from": "12015550123"}
    return _settings(**{**values, **overrides})


def _request(expires_in: float | None = 120.0) -> SendRequest:
    built = SendRequest.build("16365553226", "481516", "login-1", None)
    expires = None if expires_in is None else time.time() + expires_in
    return SendRequest(built.to, built.pin, built.client_ref, built.params, expires_at=expires)


def test_jwt_auth_signs_as_the_application_with_vonage_jwts_claims(tmp_path: Path) -> None:
    """With an application: POST /v1/messages, JSON, Bearer RS256 JWT verifying with the key's
    public half, claims application_id/iat/jti/exp (+15 min); ttl the PIN's remaining seconds."""
    key_path = _key_file(tmp_path)
    route = MessagesRoute(_messages(vonage_application_id=APP_ID, vonage_private_key=str(key_path)),
                          FakeTransport(), Templates("Your code is {pin}"))  # type: ignore[arg-type]
    call = route.build(_request(120.0), "ref-1")
    assert (call.url, call.auth, call.form) == ("http://sim/v1/messages", None, {})
    assert dict(call.json or {}) == {"channel": "sms", "message_type": "text", "to": "16365553226",
                                     "from": "12015550123", "text": "Your code is 481516",
                                     "client_ref": "ref-1", "ttl": 119}
    private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    claims = jwt.decode(call.bearer or "", private.public_key(), algorithms=["RS256"])  # type: ignore[arg-type]
    assert claims["application_id"] == APP_ID and claims["exp"] - claims["iat"] == 900 and claims["jti"]
    assert jwt.get_unverified_header(call.bearer or "") == {"alg": "RS256", "typ": "JWT"}
    assert route.token(NOW) != route.token(NOW)  # a fresh jti each time


def test_basic_auth_without_an_application_and_the_status_url_when_set() -> None:
    """No application id: Basic with the API key and secret; PINRELAY_MESSAGES_STATUS_URL goes as
    webhook_url with webhook_version v1."""
    settings = _messages(messages_status_url="https://otp.example.com/messages-status-webhook")
    call = MessagesRoute(settings, FakeTransport(), Templates("{pin}")).build(_request(None), None)  # type: ignore[arg-type]
    assert call.auth == ("demo-key", "demo-secret-0123") and call.bearer is None
    body = dict(call.json or {})
    assert "ttl" not in body and "client_ref" not in body
    assert (body["webhook_url"], body["webhook_version"]) == (settings.messages_status_url, "v1")


@pytest.mark.parametrize(("left", "expected"), [(300.9, 300), (4.0, 20), (-5.0, 20), (10**7, 604_800)])
def test_validity_is_the_remaining_lifetime_within_the_providers_range(left: float, expected: int) -> None:
    """Rounded down, never below the provider's minimum nor above its maximum (here the Messages API)."""
    request = SendRequest("16365553226", "4242", expires_at=NOW + left)
    assert validity_s(request, 20, 604_800, now=NOW) == expected
    assert validity_s(SendRequest("16365553226", "4242"), 20, 604_800, now=NOW) is None


def test_sms_and_twilio_send_their_validity_in_their_units() -> None:
    """The SMS API's `ttl` in milliseconds (at least 20 000), Twilio's `ValidityPeriod` in seconds
    (1..36000)."""
    sms = SmsRoute(_settings(sms_from="12015550123"), FakeTransport(), Templates("{pin}"))  # type: ignore[arg-type]
    twilio = TwilioRoute(_settings(**TWILIO), FakeTransport(), Templates("{pin}"))  # type: ignore[arg-type]
    assert sms.build(_request(120.5), None).form["ttl"] == "120000"
    assert sms.build(_request(3.0), None).form["ttl"] == "20000"
    assert twilio.build(_request(120.5), None).form["ValidityPeriod"] == "120"
    assert twilio.build(_request(0.5), None).form["ValidityPeriod"] == "1"
    assert "ttl" not in sms.build(_request(None), None).form


@pytest.mark.parametrize(
    ("status", "body", "error", "code", "blame"),
    [
        (401, {"title": "Unauthorized"}, PermanentProviderError, "401", Blame.ROUTE),
        (403, {}, PermanentProviderError, "403", Blame.ROUTE),
        (402, {"title": "Low balance"}, PermanentProviderError, "402", Blame.ROUTE),
        (404, {}, PermanentProviderError, "404", Blame.ROUTE),
        (422, {"invalid_parameters": [{"name": "to", "reason": "bad"}]}, PermanentProviderError, "422-to",
         Blame.NUMBER),
        (422, {"invalid_parameters": [{"name": "from", "reason": "bad"}]}, PermanentProviderError, "422-from",
         Blame.ROUTE),
        (422, {"invalid_parameters": [{"name": "ttl", "reason": "bad"}]}, PermanentProviderError, "422",
         Blame.REQUEST),
        (429, {}, TransientProviderError, "429", Blame.THROTTLED),
        (503, {}, TransientProviderError, "http-503", Blame.TRANSIENT),
        (504, {}, UnconfirmedSendError, "http-504", Blame.UNCONFIRMED),
        (202, {"nope": 1}, UnconfirmedSendError, "http-202", Blame.UNCONFIRMED),
    ],
)
def test_answers_are_classified_into_the_failover_table(
        status: int, body: dict[str, object], error: type[Exception], code: str, blame: Blame) -> None:
    """Each answer of §E.3 as its error, code and whose fault it is."""
    route = MessagesRoute(_messages(), FakeTransport(), Templates("{pin}"))  # type: ignore[arg-type]
    with pytest.raises(error) as raised:
        parse_answer(_response(status, body, headers={"Retry-After": "2"}), 0.01)
    assert raised.value.code == code  # type: ignore[attr-defined]
    assert route.blame(raised.value) is blame  # type: ignore[arg-type]
    if status == 429:
        assert raised.value.retry_after == 2.0  # type: ignore[attr-defined]


def test_a_202_is_accepted_with_its_message_uuid() -> None:
    transport = FakeTransport([_response(202, {"message_uuid": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"})])
    route = MessagesRoute(_messages(), transport, Templates("{pin}"))  # type: ignore[arg-type]
    accepted = route.submit(_request(), "r")
    assert (accepted.message_id, accepted.status) == ("aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab", "202")


def test_a_422_names_its_invalid_parameters_in_the_error_text() -> None:
    body = {"title": "Invalid params", "detail": "one is wrong",
            "invalid_parameters": [{"name": "to", "reason": "must be E.164"}]}
    with pytest.raises(PermanentProviderError, match=r"Invalid params: one is wrong \(to: must be E.164\)"):
        parse_answer(_response(422, body), 0.01)


def test_application_settings_are_checked_at_worker_start(tmp_path: Path) -> None:
    """An id without a key, a key that is not a file, not PEM, or not RSA: ConfigError naming the variable."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    (tmp_path / "ec").mkdir()
    ec_key = _key_file(tmp_path / "ec", ec.generate_private_key(ec.SECP256R1()))
    cases = [
        ({"vonage_application_id": APP_ID}, "go together"),
        ({"vonage_private_key": str(garbage)}, "go together"),
        ({"vonage_application_id": APP_ID, "vonage_private_key": str(tmp_path / "missing")},
         "not a readable file"),
        ({"vonage_application_id": APP_ID, "vonage_private_key": str(garbage)}, "not an unencrypted PEM"),
        ({"vonage_application_id": APP_ID, "vonage_private_key": str(ec_key)}, "must be an RSA key"),
        ({"sms_from": None}, "needs PINRELAY_SMS_FROM"),
    ]
    for overrides, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_routes(_messages(**overrides))
    check_routes(_messages(vonage_application_id=APP_ID, vonage_private_key=str(_key_file(tmp_path))))


def test_basic_auth_with_the_demo_key_is_refused_for_a_remote_messages_host() -> None:
    """Like the other Vonage routes: the simulator's key never goes to a real provider."""
    with pytest.raises(ConfigError, match=re.escape("PINRELAY_MESSAGES_URL=https://api.nexmo.com")):
        _messages(messages_url="https://api.nexmo.com", api_url="http://127.0.0.1:1",
                  conversion_url="http://127.0.0.1:1").check_provider_credentials()


def test_autofill_lines_end_the_text() -> None:
    """The app hash, then the origin-bound `@domain #pin` as the last line; nothing without settings."""
    templates = Templates("Your code is {pin}", domain="example.com", app_hash="FA+9qCX9VSu")
    text = templates.render("16365553226", "123456")
    assert text == "Your code is 123456\n\nFA+9qCX9VSu\n@example.com #123456"
    assert Templates("{pin}", domain="example.com").render("16365553226", "42") == "42\n\n@example.com #42"
    assert autofill("42") == ""


def test_autofill_lines_count_in_the_one_sms_check() -> None:
    """A template that fits alone but not with the autofill lines (10-digit PIN twice) is refused at start."""
    template = "x" * 130 + " {pin}"
    Templates(template)
    with pytest.raises(ConfigError, match="PINRELAY_OTP_DOMAIN / PINRELAY_ANDROID_APP_HASH lines"):
        Templates(template, domain="example.com")


@pytest.mark.parametrize(("name", "value", "error"), [
    ("PINRELAY_OTP_DOMAIN", "https://example.com", "must be a host name"),
    ("PINRELAY_OTP_DOMAIN", "localhost", "must be a host name"),
    ("PINRELAY_OTP_DOMAIN", "example.com:443", "must be a host name"),
    ("PINRELAY_ANDROID_APP_HASH", "FA+9qCX9VS", "11-character app hash"),
    ("PINRELAY_ANDROID_APP_HASH", "FA+9qCX9VSu!", "11-character app hash"),
])
def test_autofill_settings_refuse_a_malformed_value(name: str, value: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        Settings.from_env({name: value})


def test_autofill_domain_is_lower_cased() -> None:
    assert Settings.from_env({"PINRELAY_OTP_DOMAIN": "Login.Example.COM."}).otp_domain == "login.example.com"


def test_the_json_body_is_what_the_transport_posts() -> None:
    """The transport sends `json` as the body (not a form) with the Bearer header."""
    from worker.send.transport import Transport

    seen: list[requests.PreparedRequest] = []

    class Session(requests.Session):
        def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
            seen.append(request)
            return _response(202, {"message_uuid": "u"})

    route = MessagesRoute(_messages(), Transport(_messages(), Session()), Templates("{pin}"))
    route.submit(_request(), "r")
    [sent] = seen
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body or b"")["text"] == "481516"  # type: ignore[arg-type]
    assert str(sent.headers["Authorization"]).startswith("Basic ")
