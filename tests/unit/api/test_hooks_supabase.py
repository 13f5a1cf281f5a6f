"""``POST /v1/hooks/supabase/send-sms`` in-process (the RSGI front, a real Redis, no worker): every
call is signed by the ``standardwebhooks`` library as Supabase signs it; what is stored and
enqueued is read back from Redis. The same hook in front of a worker and the simulator is
tests/integration/test_auth_hooks.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from tests.support import rsgi
from tests.support.hooks import (
    SUPABASE_NEW,
    SUPABASE_OLD,
    SUPABASE_OTHER,
    SUPABASE_SETTING,
    USER_ID,
    supabase_body,
    supabase_headers,
)
from tests.support.rsgi import Answer
from webhook.http.rsgi import RSGIFront
from worker import constants as c
from worker.api.hooks.sender import HookSend, HookSender
from worker.api.rsgi import api_core, build_app
from worker.config import Settings
from worker.text import to_text

PATH = "/v1/hooks/supabase/send-sms"
TO = "16365553226"


def front(settings: Settings, client: redis.Redis) -> RSGIFront:
    return RSGIFront(api_core(settings, build_app(settings, client), threads=2))


def post(app: RSGIFront, body: bytes, headers: dict[str, str]) -> Answer:
    pairs = [(name.lower(), value) for name, value in headers.items()]
    pairs.append(("content-length", str(len(body))))
    return rsgi.call(app, "POST", PATH, headers=pairs, schedule=[(0.0, body)])


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.replace(supabase_hook_secret=SUPABASE_SETTING)


@pytest.fixture
def app(hook_settings: Settings, redis_client: redis.Redis) -> Iterator[RSGIFront]:
    yield front(hook_settings, redis_client)


def records(settings: Settings, client: redis.Redis) -> list[dict[str, str]]:
    found = []
    for key in client.scan_iter(match=f"{settings.key_prefix}{c.KEY_RECORD}*"):
        found.append({to_text(k): to_text(v) for k, v in client.hgetall(key).items()})
    return found


def queued(settings: Settings, client: redis.Redis) -> int:
    return int(client.llen(settings.queue))


def signed(body: bytes, *secrets: str, **kw: Any) -> dict[str, str]:
    return supabase_headers(body, *(secrets or (SUPABASE_NEW,)), **kw)


def test_a_signed_call_is_sent_once_under_the_user_id(app: RSGIFront, hook_settings: Settings,
                                                     redis_client: redis.Redis) -> None:
    """200 {} (Supabase's success); one record to sms.phone with the user id as client_ref."""
    body = supabase_body("561166", TO)
    answer = post(app, body, signed(body))
    assert (answer.status, answer.json()) == (200, {})
    assert answer.headers["Content-Type"].startswith("application/json")
    [record] = records(hook_settings, redis_client)
    assert (record["to"], record["client_ref"]) == (TO, USER_ID)
    assert record["idempotency_key"].startswith("hook supabase ")
    assert "561166" not in record["idempotency_key"]
    assert queued(hook_settings, redis_client) == 1


def test_retries_send_nothing_more_and_a_new_code_does(app: RSGIFront, hook_settings: Settings,
                                                      redis_client: redis.Redis) -> None:
    """Supabase's retry (same body, a new webhook-id and timestamp) and the same id again: still
    one send; the key expires after the 60 s window; a resend (a new OTP) is a second send."""
    body = supabase_body("561166", TO)
    first = signed(body)
    for headers in (first, signed(body), signed(body, timestamp=time.time() + 2), first):
        assert post(app, body, headers).json() == {}
    [record] = records(hook_settings, redis_client)
    idem = f"{hook_settings.key_prefix}{c.KEY_IDEMPOTENCY}{record['idempotency_key']}"
    assert 0 < redis_client.pttl(idem) <= c.SUPABASE_DEDUP_WINDOW_S * 1000
    again = supabase_body("904113", TO)
    assert post(app, again, signed(again)).json() == {}
    assert len(records(hook_settings, redis_client)) == 2
    assert queued(hook_settings, redis_client) == 2


def test_the_same_code_for_another_user_or_number_is_its_own_send() -> None:
    """The de-duplication is on (user, number, code): change any one and it is another key."""
    secret = b"k"
    keys = {HookSender.idempotency_key(HookSend("supabase", to, code, None, user), secret)
            for to, code, user in [(TO, "561166", "u1"), ("16365553227", "561166", "u1"),
                                   (TO, "561167", "u1"), (TO, "561166", "u2")]}
    assert len(keys) == 4
    assert HookSender.idempotency_key(HookSend("supabase", "+" + TO, "561166", None, "u1"), secret) in keys


@pytest.mark.parametrize("secrets", [(SUPABASE_OLD, SUPABASE_NEW), (SUPABASE_NEW, SUPABASE_OLD),
                                     (SUPABASE_OTHER, SUPABASE_OLD), (SUPABASE_OLD, SUPABASE_OTHER)])
def test_a_rotation_header_with_any_known_signature_is_accepted(
        app: RSGIFront, hook_settings: Settings, redis_client: redis.Redis, secrets: tuple[str, str]) -> None:
    """Two signatures joined by ", " (hookshttp.go), one of them from a secret pinrelay does not
    know: accepted whichever place the known one has (the library alone matches only the last)."""
    body = supabase_body("561166", TO)
    headers = signed(body, *secrets)
    assert ", v1," in headers["webhook-signature"]
    assert post(app, body, headers).json() == {}
    assert len(records(hook_settings, redis_client)) == 1


@pytest.mark.parametrize(("case", "message"), [
    ("unknown secret", "no webhook-signature matches"),
    ("tampered body", "no webhook-signature matches"),
    ("stale", "5-minute tolerance"),
    ("future", "5-minute tolerance"),
    ("missing signature", "webhook-signature is missing"),
    ("missing id", "webhook-id is missing"),
    ("missing timestamp", "webhook-timestamp is missing"),
    ("garbage signature", "no webhook-signature matches"),
    ("too many signatures", "1-4 signatures"),
])
def test_an_unsigned_or_stale_call_is_401_and_sends_nothing(
        app: RSGIFront, hook_settings: Settings, redis_client: redis.Redis, case: str, message: str) -> None:
    body = supabase_body("561166", TO)
    headers = {
        "unknown secret": lambda: signed(body, SUPABASE_OTHER),
        "tampered body": lambda: signed(supabase_body("561166", "16365553227")),
        "stale": lambda: signed(body, timestamp=time.time() - 6 * 60),
        "future": lambda: signed(body, timestamp=time.time() + 6 * 60),
        "missing signature": lambda: {k: v for k, v in signed(body).items() if k != "webhook-signature"},
        "missing id": lambda: {k: v for k, v in signed(body).items() if k != "webhook-id"},
        "missing timestamp": lambda: {k: v for k, v in signed(body).items() if k != "webhook-timestamp"},
        "garbage signature": lambda: {**signed(body), "webhook-signature": "v1,@@@, v2,abc, nonsense,"},
        "too many signatures": lambda: signed(body, *[SUPABASE_OTHER] * 4, SUPABASE_NEW),
    }[case]()
    with capture_logs() as logs:
        answer = post(app, body, headers)
    assert answer.status == 401
    assert answer.json()["error"]["code"] == "unauthorized" and message in answer.json()["error"]["message"]
    assert records(hook_settings, redis_client) == [] and queued(hook_settings, redis_client) == 0
    assert not [e for e in logs if e["event"] == "hook_send"]


def test_without_the_secret_the_hook_is_404_and_says_which_setting(
        settings: Settings, redis_client: redis.Redis) -> None:
    body = supabase_body("561166", TO)
    answer = post(front(settings, redis_client), body, signed(body))
    assert answer.status == 404 and "PINRELAY_SUPABASE_HOOK_SECRET" in answer.json()["error"]["message"]
    assert records(settings, redis_client) == []


@pytest.mark.parametrize(("sms", "user_phone", "http_code", "words"), [
    ({"otp": "561166", "phone": "442079460958"}, None, 400, "allowed regions"),  # outside PHONE_REGIONS
    ({"otp": "561166", "phone": "1636555"}, None, 400, "valid phone number"),
    ({"otp": "12ab56", "phone": TO}, None, 400, "pin:"),
    ({"otp": "561166", "phone": ""}, "", 400, "no number"),
])
def test_a_refused_send_is_a_200_with_supabase_s_error_object(
        app: RSGIFront, hook_settings: Settings, redis_client: redis.Redis, sms: dict[str, str],
        user_phone: str | None, http_code: int, words: str) -> None:
    """Supabase reads an error only from a 200/202/204 JSON answer: the user sees this message."""
    body = supabase_body(sms["otp"], sms["phone"], user_phone=user_phone)
    answer = post(app, body, signed(body))
    assert answer.status == 200
    error = answer.json()["error"]
    assert set(error) == {"http_code", "message"} and error["http_code"] == http_code
    assert words in error["message"] and "561166" not in error["message"]
    assert records(hook_settings, redis_client) == []


def test_an_abuse_limit_is_supabase_s_429_without_retry_after(
        hook_settings: Settings, redis_client: redis.Redis) -> None:
    """Not an HTTP 429 with Retry-After: Supabase would retry that at once, three times."""
    app = front(hook_settings.replace(per_number_10min=1), redis_client)
    first = supabase_body("561166", TO)
    assert post(app, first, signed(first)).json() == {}
    second = supabase_body("777123", TO)
    answer = post(app, second, signed(second))
    assert answer.status == 200 and "Retry-After" not in answer.headers
    assert answer.json()["error"]["http_code"] == 429
    assert len(records(hook_settings, redis_client)) == 1


def test_the_hook_has_its_own_request_rate(hook_settings: Settings, redis_client: redis.Redis) -> None:
    """Its identity `supabase` spends PINRELAY_API_RATE_PER_KEY like a key; over it, a 429 refusal."""
    app = front(hook_settings.replace(api_rate_per_key=1), redis_client)
    first = supabase_body("561166", TO)
    assert post(app, first, signed(first)).json() == {}
    second = supabase_body("561167", "16365553227")
    answer = post(app, second, signed(second))
    assert answer.status == 200 and answer.json()["error"]["http_code"] == 429
    assert redis_client.exists(f"{hook_settings.key_prefix}{c.KEY_API_RATE}supabase")
    assert not redis_client.exists(f"{hook_settings.key_prefix}{c.KEY_API_KEY}supabase")  # no key record


def test_mfa_and_phone_change_numbers(app: RSGIFront, hook_settings: Settings,
                                     redis_client: redis.Redis) -> None:
    """sms.phone wins over user.phone (a phone change's new number, an MFA factor's); an empty
    or missing sms.phone falls back to user.phone; unknown fields (sms_type) are accepted."""
    change = supabase_body("561166", TO, user_phone="16365553227", sms_type="mfa")
    assert post(app, change, signed(change)).json() == {}
    fallback = json.loads(supabase_body("904113", ""))
    fallback["user"]["phone"] = "16365553228"
    del fallback["sms"]["phone"]
    body = json.dumps(fallback).encode()
    assert post(app, body, signed(body)).json() == {}
    assert sorted(r["to"] for r in records(hook_settings, redis_client)) == [TO, "16365553228"]


def test_a_user_id_that_is_no_client_ref_is_refused(app: RSGIFront, hook_settings: Settings,
                                                   redis_client: redis.Redis) -> None:
    body = supabase_body("561166", TO, user_id="u" * 41)
    error = post(app, body, signed(body)).json()["error"]
    assert error["http_code"] == 400 and error["message"].startswith("user.id:")
    assert records(hook_settings, redis_client) == []


@pytest.mark.parametrize("payload", [b"{nope", b"[]", b'{"user": {}}', b'{"sms": {"phone": "1"}}',
                                     b'{"sms": "561166"}', b'{"sms": {"otp": 561166}}',
                                     b'{"sms": {"otp": "1", "phone": 5}}',
                                     b'{"sms": {"otp": "1"}, "user": []}'])
def test_a_body_that_is_not_supabase_s_is_400(app: RSGIFront, hook_settings: Settings,
                                             redis_client: redis.Redis, payload: bytes) -> None:
    """Supabase's "Invalid payload sent to hook": a signed body of the wrong shape."""
    answer = post(app, payload, signed(payload))
    assert (answer.status, answer.json()["error"]["code"]) == (400, "invalid_request")
    assert records(hook_settings, redis_client) == []


def test_a_large_user_object_fits(app: RSGIFront, hook_settings: Settings,
                                  redis_client: redis.Redis) -> None:
    """Supabase sends the whole user: 100 KB of user_metadata, over PINRELAY_API_BODY_LIMIT but
    not the hook's own limit."""
    payload = json.loads(supabase_body("561166", TO))
    payload["user"]["user_metadata"] = {"avatar": "x" * 100_000}
    body = json.dumps(payload).encode()
    assert len(body) > hook_settings.api_body_limit_bytes
    assert post(app, body, signed(body)).json() == {}


def test_redis_down_is_supabase_s_503_and_never_a_500(hook_settings: Settings) -> None:
    """Nothing could be stored, so nothing was sent: the user sees a 503 and may ask again."""
    from worker.local.embedded import free_port

    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    elsewhere = hook_settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = RSGIFront(api_core(elsewhere, build_app(elsewhere, dead), threads=1))
    body = supabase_body("561166", TO)
    answer = post(app, body, signed(body))
    assert answer.status == 200 and "Retry-After" not in answer.headers
    assert answer.json()["error"]["http_code"] == 503


def test_pinrelay_up_hands_the_hook_settings_to_the_api_process(settings: Settings) -> None:
    """`pinrelay up` starts the API with its Stack's environment (worker/local/supervisor.py): the
    hook settings up was started with are the API process's."""
    from worker.local.supervisor import Stack

    configured = settings.replace(supabase_hook_secret=SUPABASE_SETTING, hook_signing_key="k" * 20,
                                  hook_code_pattern=r"code ([0-9]{6})")
    env = Stack(configured).env()
    assert env["PINRELAY_SUPABASE_HOOK_SECRET"] == SUPABASE_SETTING
    assert env["PINRELAY_HOOK_SIGNING_KEY"] == "k" * 20
    assert env["PINRELAY_HOOK_CODE_PATTERN"] == r"code ([0-9]{6})"
    assert Settings.from_env(env).supabase_hook_secret == SUPABASE_SETTING
