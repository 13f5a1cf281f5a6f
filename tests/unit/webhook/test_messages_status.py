"""Messages API status webhooks at /messages-status-webhook, in-process through the receiver's RSGI
front against a real Redis: the HS256 JWT and its payload_hash (the §D.4 vector, checked by
vonage_jwt too), the mapping onto our receipt fields, replays and forgeries."""

from __future__ import annotations

import json

import jwt
import pytest
import redis
from vonage_jwt import verify_signature

from pinrelay_ops.simulator.messages.signing import bearer
from tests.support import rsgi
from webhook.http.rsgi import RSGIFront
from webhook.messages.status import MESSAGES_STATUS_PATH, error_code, receipt_fields
from worker import constants as c
from worker.config import Settings

from .test_receiver_app import receiver

SECRET = "Ex4mpleSigSecret0123456789abcdef"  # docs/provider-routes.md §D.4
BODY = (b'{"message_uuid":"aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab","to":"14155550100","from":"12015550123",'
        b'"status":"delivered","channel":"sms","timestamp":"2023-11-14T22:13:20.000Z",'
        b'"usage":{"currency":"EUR","price":"0.0333"}}')
TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjExMTExMTExLTIyMjItNDMzMy04ND"
         "Q0LTU1NTU1NTU1NTU1NSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6ImIzNTk1MzYyZWU2YzdkNDkxOGVkNDYxMjAwNGV"
         "mMmY3MTkwMzdmNWI2ZWE4ZGI1ZDEzZGFmZjExNDg3OWJhMWEiLCJhcGlfa2V5IjoiYWJjZDEyMzQiLCJhcHBsaWNhdGlvbl9pZCI6"
         "IjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwNSJ9.GT4O-p_bRILUJ20qq6a7IuE9O4UnZjpbA2M_3o0n5pg")
NOW = 1700000000.0


def post(app: RSGIFront, body: bytes, token: str | None) -> tuple[int, dict[str, str]]:
    headers = [("content-type", "application/json")]
    if token is not None:
        headers.append(("authorization", f"Bearer {token}"))
    answer = rsgi.call(app, "POST", MESSAGES_STATUS_PATH, headers=headers, body=body)
    return answer.status, json.loads(answer.body)


def entries(client: redis.Redis, settings: Settings) -> list[dict[str, str]]:
    found = client.xrange(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}")
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in found]


@pytest.fixture
def app(settings: Settings, redis_client: redis.Redis) -> RSGIFront:
    return receiver(settings.replace(signature_secret=SECRET), redis_client, clock=lambda: NOW + 5)


def test_the_published_vector_is_accepted_and_queued(app: RSGIFront, settings: Settings,
                                                     redis_client: redis.Redis) -> None:
    """§D.4's token over its body (which vonage_jwt also accepts): 200, queued with our field names;
    the same status again (a fresh JWT) is `duplicate`."""
    assert verify_signature(TOKEN, SECRET)
    assert post(app, BODY, TOKEN) == (200, {"status": "ok"})
    [entry] = entries(redis_client, settings)
    assert entry["messageId"] == "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"
    assert (entry["status"], entry["err-code"], entry["price"]) == ("delivered", "0", "0.0333")
    assert (entry["msisdn"], entry["to"], entry["route"]) == ("14155550100", "12015550123", "messages")
    again = bearer(BODY, SECRET, "abcd1234", "app", now=NOW)
    assert post(app, BODY, again) == (200, {"status": "duplicate"})
    assert len(entries(redis_client, settings)) == 1


@pytest.mark.parametrize("case", ["missing", "other secret", "tampered body", "not HS256", "from the future"])
def test_a_forged_or_unsigned_webhook_is_401_and_not_queued(
        app: RSGIFront, settings: Settings, redis_client: redis.Redis, case: str) -> None:
    """No JWT, another secret, a body that is not the hashed one, an unsigned (`none`) token, an
    `iat` beyond the window: 401, nothing on the stream."""
    body = BODY
    token: str | None = {
        "missing": None,
        "other secret": bearer(BODY, "another-secret-of-at-least-32-bytes", "k", "a", now=NOW),
        "tampered body": TOKEN,
        "not HS256": jwt.encode({"iat": int(NOW)}, None, algorithm="none"),
        "from the future": bearer(BODY, SECRET, "k", "a", now=NOW + 3600),
    }[case]
    if case == "tampered body":
        body = BODY.replace(b'"delivered"', b'"rejected"')
    status, answer = post(app, body, token)
    assert status == 401 and "error" in answer
    assert entries(redis_client, settings) == []


def test_without_a_secret_nothing_is_checked(settings: Settings, redis_client: redis.Redis) -> None:
    """No PINRELAY_SIGNATURE_SECRET (loopback only, webhook.serve): unsigned webhooks are taken."""
    app = receiver(settings, redis_client, clock=lambda: NOW)
    assert post(app, BODY, None) == (200, {"status": "ok"})


@pytest.mark.parametrize(("body", "status"), [
    (b"[]", 400), (b'{"status":"delivered"}', 400), (b'{"message_uuid":"u"}', 400), (b"{", 400),
])
def test_a_webhook_that_is_no_status_is_400(settings: Settings, redis_client: redis.Redis, body: bytes,
                                            status: int) -> None:
    app = receiver(settings, redis_client, clock=lambda: NOW)
    assert post(app, body, None)[0] == status


@pytest.mark.parametrize(("status", "error", "ours", "code"), [
    ("submitted", None, "accepted", ""),
    ("delivered", None, "delivered", "0"),
    ("rejected", {"type": "https://developer.vonage.com/api-errors/messages#1250", "title": "1250"},
     "rejected", "1250"),
    ("rejected", {"type": "https://developer.vonage.com/api-errors/messages#1360", "title": "TTL"},
     "expired", "1360"),
    ("undeliverable", {"title": "1331"}, "failed", "1331"),
    ("read", None, "delivered", "0"),
    ("something new", None, "something new", ""),
])
def test_statuses_map_onto_the_state_table(status: str, error: dict[str, str] | None, ours: str,
                                           code: str) -> None:
    """submitted -> accepted, rejected with 1360 -> expired, undeliverable -> failed (§E.4, §V)."""
    body: dict[str, object] = {"message_uuid": "u", "status": status, "to": "14155550100",
                               "client_ref": "r-1", "usage": {"currency": "EUR", "price": "0.01"}}
    if error is not None:
        body["error"] = error
    fields = receipt_fields(body, NOW)
    assert (fields["status"], fields.get("err-code", "")) == (ours, code)
    assert (fields["client-ref"], fields["price"]) == ("r-1", "0.01")


def test_the_error_code_comes_from_the_title_or_the_type_url() -> None:
    assert error_code({"title": "1050"}) == "1050"
    assert error_code({"title": "Number barred", "type": "https://x/messages#1050"}) == "1050"
    assert error_code({"title": "Number barred"}) == "" and error_code("1050") == ""
