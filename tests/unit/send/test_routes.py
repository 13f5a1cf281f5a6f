"""Each route's request building and answer parsing, against the documented shapes
(docs/provider-api.md §1-§3, provider-routes.md §A.1-§A.6, §B.1-§B.3, §D)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import ConfigError, PermanentProviderError, TransientProviderError, UnconfirmedSendError
from worker.send.routes import build_routes, check_routes
from worker.send.routes.base import Blame, HttpCall
from worker.send.routes.sc2fa import Sc2faRoute
from worker.send.routes.sms import SmsRoute
from worker.send.routes.templates import Templates
from worker.send.routes.twilio import TwilioRoute, parse_answer
from worker.send.routes.vonage import credentials
from worker.signing import sign

SID, TOKEN = "AC00000000000000000000000000000001", "test_auth_token_0123456789abcdef"
TWILIO = {"routes": ("twilio",), "twilio_account_sid": SID, "twilio_auth_token": TOKEN,
          "twilio_from": "+12015550123", "twilio_status_url": "https://otp.example.com/twilio-status-webhook"}
REQUEST = SendRequest.build("16365553226", "481516", "login-1", None)


def _response(status: int, body: object = None, text: str | None = None,
              headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = (text if text is not None else json.dumps(body)).encode()
    response.headers.update(headers or {"Content-Type": "application/json"})
    return response


@dataclass
class FakeTransport:
    """Records the calls a route makes and answers with the responses queued."""

    answers: list[requests.Response] = field(default_factory=list)
    calls: list[HttpCall] = field(default_factory=list)

    def send(self, call: HttpCall) -> tuple[requests.Response, float]:
        self.calls.append(call)
        return self.answers.pop(0), 0.01


def _settings(**overrides: object) -> Settings:
    return Settings.from_env({}).replace(**overrides)  # type: ignore[arg-type]


def _vonage_ok(*ids: str) -> dict[str, object]:
    parts = [{"to": "16365553226", "message-id": i, "status": "0", "remaining-balance": "9.9",
              "message-price": "0.0333", "network": "310004", "client-ref": "login-1"} for i in ids]
    return {"message-count": str(len(parts)), "messages": parts}


def test_sc2fa_builds_the_2fa_form() -> None:
    """sc2fa posts to /sc/us/2fa/json with key, secret, to, pin, client-ref and template params."""
    transport = FakeTransport([_response(200, _vonage_ok("0C000000217B7F02"))])
    route = Sc2faRoute(_settings(api_url="http://sim"), transport)  # type: ignore[arg-type]
    accepted = route.submit(SendRequest.build("16365553226", "4242", None, {"brand": "Acme"}), "ref-1")
    call = transport.calls[0]
    assert call.url == "http://sim/sc/us/2fa/json" and call.auth is None
    assert dict(call.form) == {"brand": "Acme", "to": "16365553226", "pin": "4242", "client-ref": "ref-1",
                               "api_key": "demo-key", "api_secret": "demo-secret-0123"}
    assert accepted.message_id == "0C000000217B7F02"


def test_sms_builds_from_to_text_and_client_ref_in_gsm7() -> None:
    """sms posts the rendered template; a GSM-7 text carries no `type`."""
    transport = FakeTransport([_response(200, _vonage_ok("3295d748-4e14-4681-af78-166dca3c5aab"))])
    settings = _settings(api_url="http://sim", sms_from="12015550123")
    route = SmsRoute(settings, transport, Templates(settings.sms_template))  # type: ignore[arg-type]
    accepted = route.submit(REQUEST, "login-1")
    call = transport.calls[0]
    assert call.url == "http://sim/sms/json"
    assert dict(call.form) == {"from": "12015550123", "to": "16365553226", "text": "Your code is 481516",
                               "client-ref": "login-1", "api_key": "demo-key",
                               "api_secret": "demo-secret-0123"}
    assert accepted.message_id == "3295d748-4e14-4681-af78-166dca3c5aab"


def test_sms_sends_type_unicode_only_when_the_text_needs_it() -> None:
    """A character outside GSM-7 (✓) makes it `type=unicode`; `é` is GSM-7 and does not."""
    transport = FakeTransport()
    settings = _settings(sms_from="12015550123")
    for template, expected in (("Código: {pin} ✓", "unicode"), ("Votre code : {pin} é", None)):
        route = SmsRoute(settings, transport, Templates(template))  # type: ignore[arg-type]
        assert route.build(REQUEST, None).form.get("type") == expected


def test_signed_vonage_request_matches_the_documented_vector() -> None:
    """With a signature secret: `timestamp` + `sig` over every param sent, no `api_secret` (§D V5)."""
    settings = _settings(api_key="abcd1234", api_signature_secret="Ex4mpleSigSecret0123456789abcdef",
                         api_signature_method="sha256")
    form = {"from": "12015550123", "to": "14155550100", "text": "Your code is 481516. Expires in 10 min.",
            "type": "text", "client-ref": "otp-7f3a9c-a1", "status-report-req": "1", "callback": ""}
    signed = credentials(settings, form, now=1700000000)
    assert "api_secret" not in signed and "callback" not in signed  # empty values are never signed
    assert signed["timestamp"] == "1700000000"
    assert signed["sig"].lower() == "291d1166bac501ffce337e7fb42d6f7439623f628762fce1d8b45a9fbf39d9b8"
    md5 = credentials(settings.replace(api_signature_method="md5hash"), form, now=1700000000)
    assert md5["sig"] == "006e03f7b5f0417e03b681a0db7b3530"
    assert sign({k: v for k, v in signed.items() if k != "sig"}, settings.api_signature_secret or "",
                "sha256") == signed["sig"]


def test_sms_multi_part_answer_keeps_every_id() -> None:
    """A two-part answer (§A.2) is accepted with both message-ids kept."""
    transport = FakeTransport([_response(200, _vonage_ok("id-1", "id-2"))])
    settings = _settings(sms_from="12015550123")
    accepted = SmsRoute(settings, transport, Templates(settings.sms_template)).submit(REQUEST, None)  # type: ignore[arg-type]
    assert accepted.all_ids == ("id-1", "id-2")


def test_twilio_builds_the_messages_call() -> None:
    """Twilio: account path, Basic auth, `To` with `+`, From, Body from the template, StatusCallback."""
    body = {"sid": "SM" + "0" * 32, "status": "queued", "price": None, "num_segments": "1"}
    transport = FakeTransport([_response(201, body)])
    settings = _settings(twilio_url="http://sim", **TWILIO)
    accepted = TwilioRoute(settings, transport, Templates(settings.sms_template)).submit(REQUEST, "x")  # type: ignore[arg-type]
    call = transport.calls[0]
    assert call.url == f"http://sim/2010-04-01/Accounts/{SID}/Messages.json"
    assert call.auth == (SID, TOKEN)
    assert dict(call.form) == {"To": "+16365553226", "Body": "Your code is 481516", "From": "+12015550123",
                               "StatusCallback": "https://otp.example.com/twilio-status-webhook"}
    assert accepted.message_id == "SM" + "0" * 32 and accepted.status == "queued"


def test_twilio_uses_the_messaging_service_without_a_from() -> None:
    """Without PINRELAY_TWILIO_FROM the service SID picks the sender."""
    settings = _settings(**{**TWILIO, "twilio_from": None, "twilio_messaging_service_sid": "MG" + "3" * 32})
    form = TwilioRoute(settings, FakeTransport(), Templates(settings.sms_template)).build(REQUEST, None).form  # type: ignore[arg-type]
    assert form["MessagingServiceSid"] == "MG" + "3" * 32 and "From" not in form


@pytest.mark.parametrize(
    ("status", "code", "kind", "blame"),
    [
        (400, 21211, PermanentProviderError, Blame.NUMBER),
        (400, 21610, PermanentProviderError, Blame.NUMBER),
        (400, 21614, PermanentProviderError, Blame.NUMBER),
        (401, 20003, PermanentProviderError, Blame.ROUTE),
        (400, 21408, PermanentProviderError, Blame.COUNTRY),
        (400, 21612, PermanentProviderError, Blame.DESTINATION),
        (400, 21608, PermanentProviderError, Blame.DESTINATION),
        (400, 21606, PermanentProviderError, Blame.ROUTE),
        (429, 20429, TransientProviderError, Blame.TRANSIENT),
        (500, 20500, TransientProviderError, Blame.TRANSIENT),
        (400, 21602, PermanentProviderError, Blame.REQUEST),
    ],
)
def test_twilio_error_json_is_classified_by_its_code(status: int, code: int, kind: type,
                                                    blame: Blame) -> None:
    """Twilio's error JSON (§B.3): the `code` decides whose fault it is."""
    body = {"code": code, "message": "x", "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    with pytest.raises(kind) as info:
        parse_answer(_response(status, body), 0.0)
    assert info.value.status == str(code) and info.value.http_status == status
    route = TwilioRoute(_settings(**TWILIO), FakeTransport(), Templates("{pin}"))  # type: ignore[arg-type]
    assert route.blame(info.value) is blame


def test_twilio_unreadable_success_is_unconfirmed() -> None:
    """A 2xx without a readable `sid`: the message may exist, so unconfirmed, never resent."""
    with pytest.raises(UnconfirmedSendError):
        parse_answer(_response(201, text="<html>ok</html>", headers={"Content-Type": "text/html"}), 0.0)


def test_twilio_429_without_a_body_is_transient_with_its_wait() -> None:
    """A bare 429 honours Retry-After."""
    with pytest.raises(TransientProviderError) as info:
        parse_answer(_response(429, text="", headers={"Retry-After": "2"}), 0.0)
    assert info.value.retry_after == 2.0


@pytest.mark.parametrize("template", ["Your code", "x" * 160 + "{pin}", "ю" * 61 + "{pin}"])
def test_a_template_without_pin_or_longer_than_one_sms_is_refused(template: str) -> None:
    """No `{pin}`, or over 160 GSM-7 / 70 UCS-2 with a 10-digit PIN: refused at start, naming it."""
    with pytest.raises(ConfigError) as info:
        check_routes(_settings(routes=("sms",), sms_from="12015550123", sms_template=template))
    assert "PINRELAY_SMS_TEMPLATE" in str(info.value)


def test_per_region_templates_follow_the_numbers_region(tmp_path: Path) -> None:
    """A region key wins, then the region's language, then the default."""
    path = tmp_path / "templates.json"
    path.write_text(json.dumps({"CA": "Code Canada {pin}", "fr": "Votre code {pin}", "GB": "UK {pin}"}))
    templates = Templates.from_settings(_settings(sms_templates=str(path)))
    assert templates.render("16135550123", "1234") == "Code Canada 1234"  # Ottawa: CA
    assert templates.render("33612345678", "1234") == "Votre code 1234"  # France: language fr
    assert templates.render("16365553226", "1234") == "Your code is 1234"  # US: the default
    path.write_text(json.dumps({"FR": "no placeholder"}))
    with pytest.raises(ConfigError) as info:
        Templates.from_settings(_settings(sms_templates=str(path)))
    assert "PINRELAY_SMS_TEMPLATES['FR']" in str(info.value)


@pytest.mark.parametrize(
    ("routes", "given", "missing"),
    [
        (("sms",), {}, "PINRELAY_SMS_FROM"),
        (("sc2fa", "twilio"), {}, "PINRELAY_TWILIO_ACCOUNT_SID"),
        (("twilio",), {**TWILIO, "twilio_auth_token": None}, "PINRELAY_TWILIO_AUTH_TOKEN"),
        (("twilio",), {**TWILIO, "twilio_from": None}, "PINRELAY_TWILIO_FROM or PINRELAY_TWILIO_MESSAGING"),
        (("twilio",), {**TWILIO, "twilio_status_url": None}, "PINRELAY_TWILIO_STATUS_URL"),
    ],
)
def test_each_route_is_checked_for_its_settings(routes: tuple[str, ...], given: dict[str, object],
                                                missing: str) -> None:
    """One clear error naming the first variable a listed route lacks."""
    with pytest.raises(ConfigError) as info:
        check_routes(_settings(**{**given, "routes": routes}))
    assert missing in str(info.value) and routes[-1] in str(info.value)


def test_routes_are_built_in_failover_order() -> None:
    """PINRELAY_ROUTES' order is the order of the routes built (one shared transport)."""
    settings = Settings.from_env({"PINRELAY_ROUTES": "twilio, sms,sc2fa", "PINRELAY_SMS_FROM": "12015550123",
                                  **{f"PINRELAY_{k.upper()}": v for k, v in TWILIO.items() if k != "routes"}})
    built = build_routes(settings, FakeTransport())  # type: ignore[arg-type]
    assert list(built) == ["twilio", "sms", "sc2fa"]
    assert [r.receipt_format for r in built.values()] == ["twilio-status", "vonage-dlr", "vonage-dlr"]


@pytest.mark.parametrize("value", ["", "sms,sms", "smpp", "sc2fa,,x"])
def test_a_bad_route_list_is_refused(value: str) -> None:
    """Unknown or repeated route names are refused by name; blank means the default."""
    if not value:
        assert Settings.from_env({"PINRELAY_ROUTES": value}).routes == ("sc2fa",)
        return
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PINRELAY_ROUTES": value})
    assert "PINRELAY_ROUTES" in str(info.value)


def test_the_demo_vonage_key_is_refused_only_where_a_vonage_route_uses_it() -> None:
    """A twilio-only deployment never sends the Vonage key, so its demo default is no error."""
    check_provider = Settings.check_provider_credentials
    check_provider(_settings(**TWILIO))
    with pytest.raises(ConfigError) as info:
        check_provider(_settings(**{**TWILIO, "routes": ("twilio", "sms")}))
    assert "PINRELAY_API_KEY" in str(info.value)
