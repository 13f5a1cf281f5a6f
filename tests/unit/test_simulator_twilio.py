"""The simulator's Twilio route without sockets: auth and param checks, answers, the callback plan."""

from __future__ import annotations

import json
import random
import re

import pytest

from pinrelay_ops.simulator import SimConfig
from pinrelay_ops.simulator.receipts.payload import payload_for
from pinrelay_ops.simulator.receipts.status_callbacks import TwilioSend, plan_callbacks
from pinrelay_ops.simulator.twilio import answers
from pinrelay_ops.simulator.twilio.checks import check_auth, check_message, unknown_params
from webhook.twilio.signature import verify_twilio

CONFIG = SimConfig(opted_out=frozenset({"+14155550199"}))
SID, TOKEN = CONFIG.twilio_account_sid, CONFIG.twilio_auth_token
GOOD = {"To": "+14155550100", "From": "+12015550123", "Body": "Your code is 481516"}
SEND = TwilioSend("SM" + "ab" * 16, SID, "+14155550100", "+12015550123", None, "https://otp.example.com/cb?r=1")


def code_of(got: dict[str, str], config: SimConfig = CONFIG) -> int | None:
    failure = check_message(got, config)
    return None if failure is None else failure.code


# --- auth ---------------------------------------------------------------------------------------


def test_basic_auth_with_sid_and_token_or_an_api_key() -> None:
    """AccountSid:AuthToken passes; an SK key passes once configured; anything else is 20003."""
    assert check_auth((SID, TOKEN), SID, CONFIG) is None
    keyed = CONFIG.with_knobs(twilio_api_key_sid="SK" + "1" * 32, twilio_api_key_secret="key-secret")
    assert check_auth(("SK" + "1" * 32, "key-secret"), SID, keyed) is None
    for basic in [None, (SID, "wrong"), ("AC" + "9" * 32, TOKEN), ("", ""), ("SK", "")]:
        failure = check_auth(basic, SID, CONFIG)
        assert failure is not None and failure.code == 20003


def test_another_accounts_path_is_20404() -> None:
    """Good credentials on another AccountSid's URL: 404 / 20404 naming the resource."""
    failure = check_auth((SID, TOKEN), "AC" + "2" * 32, CONFIG)
    assert failure is not None and failure.code == 20404 and "AC2222" in failure.value


# --- params ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({}, None),
        ({"To": ""}, 21604),
        ({"To": "14155550100"}, 21211),
        ({"To": "+0123456"}, 21211),
        ({"From": ""}, 21603),
        ({"From": "", "MessagingServiceSid": CONFIG.twilio_messaging_service_sid}, None),
        ({"MessagingServiceSid": "MG" + "f" * 32}, 21701),
        ({"From": "+19995550000"}, 21606),
        ({"Body": ""}, 21602),
        ({"Body": "", "MediaUrl": "https://example.com/a.png"}, None),
        ({"Body": "x" * 1601}, 21617),
        ({"Body": "x" * 1600}, None),
        ({"StatusCallback": "https://my_host.example.com/cb"}, 21609),
        ({"StatusCallback": "ftp://example.com/cb"}, 21609),
        ({"StatusCallback": "http://127.0.0.1:8099/twilio-status-webhook"}, None),
        ({"To": "+14155550199"}, 21610),
    ],
)
def test_each_param_rule_has_its_code(override: dict[str, str], code: int | None) -> None:
    """Every refusal of B.1/B.3 and the look-alikes that pass."""
    assert code_of({**GOOD, **override}) == code


def test_unknown_params_are_listed() -> None:
    """Documented optional params are known; anything else is recorded."""
    assert unknown_params({**GOOD, "ValidityPeriod": "300", "Attempt": "2", "Pin": "1"}) == ["Pin"]


# --- answers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"), [(20003, 401), (20404, 404), (20429, 429), (21211, 400), (20500, 500), (21999, 400)]
)
def test_error_json_has_the_documented_shape_and_status(code: int, status: int) -> None:
    """{"code", "message", "more_info", "status"} with the HTTP status of the code."""
    answer = answers.error(code, "+1")
    body = json.loads(answer.body)
    assert answer.status == status and set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == code and body["status"] == status and body["message"]
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert ("WWW-Authenticate", 'Basic realm="Twilio API"') in answer.headers or code != 20003


def test_created_message_resource() -> None:
    """201 with sid SM+32 hex, queued, string counts, null price, RFC 2822 dates and the uri."""
    sid = answers.MessageSids().next()
    answer = answers.created(sid, SID, "+14155550100", "+12015550123", None, "Hi 👍", 1)
    body = json.loads(answer.body)
    assert answer.status == 201 and re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert body["status"] == "queued" and body["direction"] == "outbound-api"
    assert (body["num_segments"], body["num_media"]) == ("1", "0")
    assert body["price"] is None and body["error_code"] is None
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000", body["date_created"])
    assert body["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json"
    with_service = json.loads(answers.created(sid, SID, "+1", None, "MG" + "0" * 32, "x", 1).body)
    assert with_service["status"] == "accepted" and with_service["num_segments"] == "0"


def test_message_sids_are_unique() -> None:
    """A thousand sids, a thousand distinct values."""
    sids = answers.MessageSids()
    assert len({sids.next() for _ in range(1000)}) == 1000


# --- the status callback plan ------------------------------------------------------------------------


def statuses(config: SimConfig, seed: int = 0, **kw: object) -> list[tuple[str, str, str | None]]:
    chain = plan_callbacks(SEND, config, random.Random(seed), **kw)  # type: ignore[arg-type]
    return [(r.kind, r.fields["MessageStatus"], r.fields.get("ErrorCode")) for r in chain]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("delivered", [("intermediate", "sent", None), ("final", "delivered", None)]),
        ("accepted", [("intermediate", "sent", None)]),
    ],
)
def test_progression_without_errors(outcome: str, expected: list[tuple[str, str, str | None]]) -> None:
    """queued (the answer) -> sent -> delivered; with no carrier report, sent is the last word."""
    assert statuses(SimConfig(dlr_mix={outcome: 1})) == expected


@pytest.mark.parametrize(
    ("outcome", "final", "codes"),
    [
        ("failed", "failed", {"30001", "30007", "30008"}),
        ("rejected", "undelivered", {"30004", "30005", "30006", "30007"}),
        ("expired", "undelivered", {"30003"}),
        ("unknown", "undelivered", {"30008"}),
    ],
)
def test_failures_carry_an_error_code(outcome: str, final: str, codes: set[str]) -> None:
    """failed never had a 'sent'; undelivered follows 'sent'; both carry a documented ErrorCode."""
    for seed in range(20):
        chain = statuses(SimConfig(dlr_mix={outcome: 1}), seed)
        assert chain[-1][1] == final and chain[-1][2] in codes
        assert [c[1] for c in chain[:-1]] == ([] if final == "failed" else ["sent"])


def test_forced_outcome_out_of_order_and_duplicates() -> None:
    """A forced outcome wins over the mix; out_of_order swaps; a duplicate shares the final's fields."""
    assert statuses(SimConfig(), outcome=("undelivered", "30004"))[-1] == ("final", "undelivered", "30004")
    swapped = SimConfig(dlr_mix={"delivered": 1}, out_of_order=True)
    assert [s[1] for s in statuses(swapped)] == ["delivered", "sent"]
    chain = plan_callbacks(SEND, SimConfig(dlr_mix={"delivered": 1}, duplicate_rate=1.0), random.Random(0))
    assert [r.kind for r in chain] == ["intermediate", "final", "duplicate"]
    assert chain[2].fields is chain[1].fields and chain[0].follower is chain[1]


def test_callback_fields_and_retry_budget() -> None:
    """Documented params, legacy aliases, ErrorCode only on failures; 1 + twilio_callback_retries pushes."""
    config = SimConfig(dlr_mix={"expired": 1}, twilio_callback_retries=3)
    chain = plan_callbacks(SEND, config, random.Random(0))
    sent, final = (r.fields for r in chain)
    assert set(sent) == {"AccountSid", "ApiVersion", "From", "MessageSid", "MessageStatus", "SmsSid",
                         "SmsStatus", "To"}
    assert final["SmsSid"] == final["MessageSid"] == SEND.sid and final["SmsStatus"] == "undelivered"
    assert {r.max_attempts for r in chain} == {4} and {r.transport for r in chain} == {"form"}


def test_payload_is_signed_with_the_auth_token_over_the_url() -> None:
    """Each push carries X-Twilio-Signature that verifies; delivered/undelivered get RawDlrDoneDate."""
    config = SimConfig(dlr_mix={"delivered": 1})
    sent, delivered = plan_callbacks(SEND, config, random.Random(0))
    for receipt in (sent, delivered):
        params, headers = payload_for(receipt, config)
        assert verify_twilio(TOKEN, SEND.url, params, headers["X-Twilio-Signature"])
        assert not verify_twilio("other-token", SEND.url, params, headers["X-Twilio-Signature"])
    assert "RawDlrDoneDate" not in payload_for(sent, config)[0]
    assert re.fullmatch(r"\d{10}", payload_for(delivered, config)[0]["RawDlrDoneDate"])
