"""The auth-server hooks against a running pinrelay: the real `pinrelay api` (granian) with the
hook settings in its environment (as `pinrelay up` passes them), a real worker, the simulator.
Each call is made as its server makes it (tests/support/hooks.py): Supabase's signed by the
``standardwebhooks`` library, Zitadel's with its ``ZITADEL-Signature``, authentik's with its
bearer key. What counts is what the provider received: each code once, nothing for a call
that is refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pinrelay_ops.simulator import Simulator
from tests.support.api import create_key
from tests.support.hooks import (
    SIGNING_KEY,
    SUPABASE_NEW,
    SUPABASE_OLD,
    SUPABASE_OTHER,
    SUPABASE_SETTING,
    USER_ID,
    authentik_body,
    supabase_body,
    supabase_headers,
    zitadel_body,
    zitadel_signature,
)
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.waiting import wait_for
from worker import constants as c
from worker.text import to_text

SUPABASE = "/v1/hooks/supabase/send-sms"
GENERIC = "/v1/hooks/generic/send-sms"


@pytest.fixture(scope="module")
def live(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    stack = start_live(redis_url, sim, tmp_path_factory.mktemp("hooks"),
                       supabase_hook_secret=SUPABASE_SETTING, hook_signing_key=SIGNING_KEY)
    try:
        stack.stack.start_api()
        yield stack
    finally:
        stop_live(stack)


def post(live: LiveStack, path: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    headers = {"Content-Type": "application/json", **headers}
    return requests.post((live.stack.api_url or "") + path, data=body, headers=headers, timeout=10)


def pins_to(live: LiveStack, number: str) -> list[str]:
    """The PINs the provider received for ``number`` (each request, in order)."""
    return [r["params"]["pin"] for r in live.sim.requests() if r["params"].get("to") == number]


def records_to(live: LiveStack, number: str) -> list[dict[str, Any]]:
    client = live.producer.redis
    found = []
    for key in client.scan_iter(match=f"{live.settings.key_prefix}{c.KEY_RECORD}*"):
        record = {to_text(k): to_text(v) for k, v in client.hgetall(key).items()}
        if record.get("to") == number:
            found.append(record)
    return found


def reaches_provider(live: LiveStack, number: str, code: str, client_ref: str | None = None) -> None:
    wait_for(lambda: code in pins_to(live, number), 20, f"{code} to reach the provider for {number}")
    if client_ref is not None:
        assert live.sim.accepted_count(number, code, client_ref) == 1


def test_a_supabase_code_reaches_the_provider_once_however_often_supabase_retries(live: LiveStack) -> None:
    """Signed by the library; then Supabase's retries (a new webhook-id each, and the same one
    again): 200 {} each time, one record, one SMS; a new OTP (a resend) is a second SMS."""
    number, otp = "16365554101", "561166"
    body = supabase_body(otp, number)
    first = supabase_headers(body, SUPABASE_NEW)
    answer = post(live, SUPABASE, body, first)
    assert (answer.status_code, answer.json()) == (200, {})
    reaches_provider(live, number, otp, USER_ID)
    for headers in (supabase_headers(body, SUPABASE_NEW), first, supabase_headers(body, SUPABASE_OLD)):
        retry = post(live, SUPABASE, body, headers)
        assert (retry.status_code, retry.json()) == (200, {})
    resend = supabase_body("904113", number)
    assert post(live, SUPABASE, resend, supabase_headers(resend, SUPABASE_NEW)).json() == {}
    reaches_provider(live, number, "904113", USER_ID)
    assert len(records_to(live, number)) == 2
    time.sleep(0.5)  # nothing more arrives late: every retry was answered without a record
    assert pins_to(live, number) == [otp, "904113"]


@pytest.mark.parametrize("secrets", [(SUPABASE_OTHER, SUPABASE_OLD), (SUPABASE_OLD, SUPABASE_OTHER)])
def test_during_a_rotation_either_signature_is_enough(live: LiveStack, secrets: tuple[str, str]) -> None:
    """Two signatures in one header joined by ", " (one from a secret pinrelay does not know)."""
    number = "16365554102" if secrets[0] == SUPABASE_OTHER else "16365554103"
    body = supabase_body("318027", number)
    headers = supabase_headers(body, *secrets)
    assert headers["webhook-signature"].count("v1,") == 2
    assert post(live, SUPABASE, body, headers).json() == {}
    reaches_provider(live, number, "318027", USER_ID)


def test_unsigned_bad_and_stale_calls_send_nothing(live: LiveStack) -> None:
    number = "16365554104"
    body = supabase_body("771485", number)
    signed = supabase_headers(body, SUPABASE_NEW)
    refused = {
        "bad signature": supabase_headers(body, SUPABASE_OTHER),
        "stale timestamp": supabase_headers(body, SUPABASE_NEW, timestamp=time.time() - 6 * 60),
        "missing header": {k: v for k, v in signed.items() if k != "webhook-signature"},
        "another body": {**signed,
                         "webhook-signature": supabase_headers(b"{}", SUPABASE_NEW)["webhook-signature"]},
    }
    for case, headers in refused.items():
        answer = post(live, SUPABASE, body, headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (401, "unauthorized"), case
    # A signed call to another number goes through the same worker after them: once it has
    # arrived, nothing of the refused ones is on its way.
    control = supabase_body("771486", "16365554105")
    assert post(live, SUPABASE, control, supabase_headers(control, SUPABASE_NEW)).json() == {}
    reaches_provider(live, "16365554105", "771486")
    assert records_to(live, number) == [] and pins_to(live, number) == []


@pytest.mark.parametrize(("number", "words"), [("442079460958", "allowed regions"),
                                               ("19005550123", "premium-rate"),
                                               ("1636555", "valid phone number")])
def test_a_refused_number_answers_in_supabase_s_error_format(live: LiveStack, number: str,
                                                              words: str) -> None:
    """A refusal is a 200 with {"error": {"http_code", "message"}} (what Supabase shows the user),
    and nothing is sent. A premium-rate number (1-900) is refused by the pumping guard's
    number-type rule (a ValidationError), in this same format."""
    body = supabase_body("550932", number)
    answer = post(live, SUPABASE, body, supabase_headers(body, SUPABASE_NEW))
    assert answer.status_code == 200 and "Retry-After" not in answer.headers
    error = answer.json()["error"]
    assert set(error) == {"http_code", "message"} and error["http_code"] == 400 and words in error["message"]
    assert records_to(live, number) == []


def test_the_generic_hook_with_a_key_takes_a_code_or_a_text(live: LiveStack) -> None:
    key = create_key(live.settings, "hooks-generic")["key"]
    auth = {"Authorization": f"Bearer {key}"}
    code = post(live, GENERIC, json.dumps({"to": "16365554201", "code": "204611"}).encode(), auth)
    text = post(live, GENERIC, json.dumps({"to": "+16365554202", "client_ref": "login-1",
                                           "body": "Your login code is 318027."}).encode(), auth)
    assert (code.status_code, text.status_code) == (202, 202)
    reaches_provider(live, "16365554201", "204611")
    reaches_provider(live, "16365554202", "318027", "login-1")
    again = post(live, GENERIC, json.dumps({"to": "16365554201", "code": "204611"}).encode(), auth)
    assert again.json()["id"] == code.json()["id"]


def test_authentik_with_its_bearer_key(live: LiveStack) -> None:
    key = create_key(live.settings, "authentik")["key"]
    answer = post(live, GENERIC, authentik_body("+16365554203", "550932"), {"Authorization": f"Bearer {key}"})
    assert answer.status_code == 202, answer.text
    reaches_provider(live, "16365554203", "550932")


@pytest.mark.parametrize(("arg", "header", "number"), [("code", "ZITADEL-Signature", "16365554204"),
                                                       ("oTP", "ZITADEL-Signature", "16365554205"),
                                                       ("code", "X-Pinrelay-Signature", "16365554206")])
def test_zitadel_signed(live: LiveStack, arg: str, header: str, number: str) -> None:
    """Zitadel's body and signature (args.code: phone verification; args.oTP: the OTP second
    factor); the same call replayed answers the first id and sends nothing more."""
    body = zitadel_body("+" + number, "771485", arg=arg)
    headers = {header: zitadel_signature(body)}
    answer = post(live, GENERIC, body, headers)
    assert answer.status_code == 202, answer.text
    reaches_provider(live, number, "771485")
    assert post(live, GENERIC, body, headers).json()["id"] == answer.json()["id"]
    assert len(records_to(live, number)) == 1


def test_a_bad_zitadel_signature_sends_nothing(live: LiveStack) -> None:
    number = "16365554207"
    body = zitadel_body("+" + number, "771485")
    for signature in (zitadel_signature(body, key="not-the-signing-key-0123"),
                      zitadel_signature(body, at=time.time() - c.HOOK_SIGNATURE_TOLERANCE_S - 60)):
        answer = post(live, GENERIC, body, {"ZITADEL-Signature": signature})
        assert answer.status_code == 401
    assert records_to(live, number) == []
