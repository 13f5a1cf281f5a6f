"""``POST /v1/hooks/generic/send-sms`` in-process (the RSGI front, a real Redis, no worker): each
body shape (pinrelay's, Zitadel's, authentik's) with each way to authenticate (an API key, a
``ZITADEL-Signature`` / ``X-Pinrelay-Signature``), read back from Redis. Live:
tests/integration/test_auth_hooks.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
import redis

from tests.support import rsgi
from tests.support.hooks import SIGNING_KEY, authentik_body, zitadel_body, zitadel_signature
from tests.support.rsgi import Answer
from webhook.http.rsgi import RSGIFront
from worker import constants as c
from worker.api.errors import InvalidRequest
from worker.api.hooks.shapes import find_code
from worker.api.keys import ApiKeys
from worker.api.rsgi import api_core, build_app
from worker.config import Settings
from worker.text import to_text

PATH = "/v1/hooks/generic/send-sms"
TO = "16365553226"
DEFAULT = re.compile(c.DEFAULT_HOOK_CODE_PATTERN, re.ASCII)


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.replace(hook_signing_key=SIGNING_KEY)


@pytest.fixture
def app(hook_settings: Settings, redis_client: redis.Redis) -> Iterator[RSGIFront]:
    yield RSGIFront(api_core(hook_settings, build_app(hook_settings, redis_client), threads=2))


@pytest.fixture
def key(hook_settings: Settings, redis_client: redis.Redis) -> str:
    return ApiKeys(redis_client, hook_settings.key_prefix).create("authentik")["key"]


def post(app: RSGIFront, body: bytes, headers: dict[str, str]) -> Answer:
    pairs = [(name.lower(), value) for name, value in headers.items()]
    pairs += [("content-type", "application/json"), ("content-length", str(len(body)))]
    return rsgi.call(app, "POST", PATH, headers=pairs, schedule=[(0.0, body)])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def record(settings: Settings, client: redis.Redis, request_id: str) -> dict[str, str]:
    raw = client.hgetall(f"{settings.key_prefix}{c.KEY_RECORD}{request_id}")
    return {to_text(k): to_text(v) for k, v in raw.items()}


def count(settings: Settings, client: redis.Redis) -> int:
    return len(list(client.scan_iter(match=f"{settings.key_prefix}{c.KEY_RECORD}*")))


def sent(answer: Answer, settings: Settings, client: redis.Redis) -> dict[str, str]:
    assert answer.status == 202, answer.body
    request_id = answer.json()["id"]
    assert answer.headers["Location"] == f"/v1/pins/{request_id}"
    return record(settings, client, request_id)


def test_a_key_and_a_code(app: RSGIFront, key: str, hook_settings: Settings,
                          redis_client: redis.Redis) -> None:
    body = json.dumps({"to": "+" + TO, "code": "482913", "client_ref": "login-7f3a", "extra": 1}).encode()
    stored = sent(post(app, body, bearer(key)), hook_settings, redis_client)
    assert (stored["to"], stored["client_ref"]) == (TO, "login-7f3a")
    again = post(app, body, bearer(key))
    assert again.json()["id"] == stored["id"] and count(hook_settings, redis_client) == 1


def test_a_key_and_a_text(app: RSGIFront, key: str, hook_settings: Settings,
                          redis_client: redis.Redis) -> None:
    """The code is the one run of 4-10 digits in the text."""
    body = json.dumps({"to": TO, "body": "Your code is 482913. It expires in 5 minutes."}).encode()
    stored = sent(post(app, body, bearer(key)), hook_settings, redis_client)
    pin = redis_client.get(f"{hook_settings.key_prefix}{c.KEY_PIN}{stored['id']}")
    assert to_text(pin) == "482913"


@pytest.mark.parametrize(("text", "words"), [("Your code is ready", "no code"),
                                             ("Code 482913, or 1234 for the kiosk", "2 possible codes"),
                                             ("Your code is 12345678901", "no code")])
def test_a_text_without_exactly_one_code_is_422(app: RSGIFront, key: str, hook_settings: Settings,
                                               redis_client: redis.Redis, text: str, words: str) -> None:
    answer = post(app, json.dumps({"to": TO, "body": text}).encode(), bearer(key))
    assert (answer.status, answer.json()["error"]["code"]) == (422, "invalid_pin")
    assert words in answer.json()["error"]["message"] and "PINRELAY_HOOK_CODE_PATTERN" in answer.body.decode()
    assert count(hook_settings, redis_client) == 0


def test_the_code_pattern_is_a_setting(hook_settings: Settings, redis_client: redis.Redis, key: str) -> None:
    """A pattern with a group: the group is the code (here: a code after "code", other numbers around)."""
    custom = hook_settings.replace(hook_code_pattern=r"code:? ([0-9]{6})\b")
    app = RSGIFront(api_core(custom, build_app(custom, redis_client), threads=1))
    body = json.dumps({"to": TO, "body": "Order 12345: your code: 482913 (valid 10 minutes)"}).encode()
    stored = sent(post(app, body, bearer(key)), custom, redis_client)
    assert to_text(redis_client.get(f"{custom.key_prefix}{c.KEY_PIN}{stored['id']}")) == "482913"


def test_find_code_takes_the_group_or_the_match() -> None:
    assert find_code("pin 0042 now", DEFAULT, "body") == "0042"
    assert find_code("x7 code 991234", re.compile(r"code ([0-9]+)"), "body") == "991234"
    with pytest.raises(InvalidRequest, match="no code"):
        find_code("١٢٣٤٥٦", DEFAULT, "body")  # Arabic-Indic digits are not a code's ASCII digits


@pytest.mark.parametrize("arg", ["code", "oTP"])
def test_zitadel_signed(app: RSGIFront, hook_settings: Settings, redis_client: redis.Redis, arg: str) -> None:
    """Zitadel's body and ZITADEL-Signature: args.code (phone verification) or args.oTP (OTP SMS)."""
    body = zitadel_body("+" + TO, "318027", arg=arg)
    answer = post(app, body, {"ZITADEL-Signature": zitadel_signature(body)})
    stored = sent(answer, hook_settings, redis_client)
    assert stored["to"] == TO and "client_ref" not in stored
    assert redis_client.exists(f"{hook_settings.key_prefix}{c.KEY_API_RATE}signed-hook")


def test_a_replayed_signed_call_sends_nothing_more(app: RSGIFront, hook_settings: Settings,
                                                  redis_client: redis.Redis) -> None:
    """The same call again (a replay within the tolerance) or re-signed (a retry): the first id."""
    body = zitadel_body("+" + TO, "318027")
    headers = {"X-Pinrelay-Signature": zitadel_signature(body)}
    first = sent(post(app, body, headers), hook_settings, redis_client)
    assert post(app, body, headers).json()["id"] == first["id"]
    resigned = {"ZITADEL-Signature": zitadel_signature(body, at=time.time() + 3)}
    assert post(app, body, resigned).json()["id"] == first["id"]
    idem = f"{hook_settings.key_prefix}{c.KEY_IDEMPOTENCY}{first['idempotency_key']}"
    assert 0 < redis_client.pttl(idem) <= c.GENERIC_DEDUP_WINDOW_S * 1000
    assert count(hook_settings, redis_client) == 1


@pytest.mark.parametrize("case", ["wrong key", "stale", "tampered", "no t", "not ascii", "no key set"])
def test_a_bad_signature_is_401_and_sends_nothing(hook_settings: Settings, redis_client: redis.Redis,
                                                 case: str) -> None:
    settings = hook_settings.replace(hook_signing_key=None) if case == "no key set" else hook_settings
    app = RSGIFront(api_core(settings, build_app(settings, redis_client), threads=1))
    body = zitadel_body("+" + TO, "318027")
    signature = {
        "wrong key": zitadel_signature(body, key="another-key-0123456789"),
        "stale": zitadel_signature(body, at=time.time() - c.HOOK_SIGNATURE_TOLERANCE_S - 60),
        "tampered": zitadel_signature(zitadel_body("+" + TO, "318028")),
        "no t": zitadel_signature(body).split(",", 1)[1],
        "not ascii": zitadel_signature(body) + "é",
        "no key set": zitadel_signature(body),
    }[case]
    answer = post(app, body, {"ZITADEL-Signature": signature})
    assert (answer.status, answer.json()["error"]["code"]) == (401, "unauthorized")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert count(hook_settings, redis_client) == 0


def test_no_key_and_no_signature_is_401(app: RSGIFront, hook_settings: Settings,
                                        redis_client: redis.Redis) -> None:
    answer = post(app, json.dumps({"to": TO, "code": "482913"}).encode(), {})
    assert answer.status == 401 and answer.headers["WWW-Authenticate"] == 'Bearer realm="pinrelay"'
    assert post(app, b"{}", bearer("pk_unknown")).status == 401
    assert count(hook_settings, redis_client) == 0


def test_authentik_with_its_bearer_auth(app: RSGIFront, key: str, hook_settings: Settings,
                                        redis_client: redis.Redis) -> None:
    stored = sent(post(app, authentik_body("+" + TO, "550932"), bearer(key)), hook_settings, redis_client)
    assert to_text(redis_client.get(f"{hook_settings.key_prefix}{c.KEY_PIN}{stored['id']}")) == "550932"


@pytest.mark.parametrize(("data", "code"), [
    ({}, "invalid_request"),
    ({"to": TO}, "invalid_request"),
    ({"to": TO, "code": "482913", "body": "482913"}, "invalid_request"),
    ({"to": 16365553226, "code": "482913"}, "invalid_number"),
    ({"to": TO, "code": 482913}, "invalid_pin"),
    ({"to": TO, "code": "48291"[:3]}, "invalid_pin"),
    ({"to": "442079460958", "code": "482913"}, "invalid_number"),
    ({"to": TO, "code": "482913", "client_ref": 7}, "invalid_request"),
    ({"contextInfo": "x", "args": {"code": "482913"}}, "invalid_request"),
    ({"contextInfo": {"recipientPhoneNumber": TO}, "args": {"userName": "a"}}, "invalid_pin"),
    ({"To": TO, "Body": "Use 482913"}, "invalid_pin"),
])
def test_a_body_it_cannot_use_is_422(app: RSGIFront, key: str, hook_settings: Settings,
                                     redis_client: redis.Redis, data: dict[str, object], code: str) -> None:
    answer = post(app, json.dumps(data).encode(), bearer(key))
    assert (answer.status, answer.json()["error"]["code"]) == (422, code), answer.body
    assert count(hook_settings, redis_client) == 0
