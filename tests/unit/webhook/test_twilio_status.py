"""Twilio status callbacks at /twilio-status-webhook, driven in-process through the receiver's
RSGI front against a real Redis: checked with X-Twilio-Signature (the published T5 vector), mapped onto our
receipt fields, pushed on the receipts stream once."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import redis
from twilio.request_validator import RequestValidator

from tests.support import rsgi
from webhook.http.rsgi import RSGIFront
from webhook.twilio.signature import twilio_signature
from webhook.twilio.status import TWILIO_STATUS_PATH, receipt_fields
from worker import constants as c
from worker.config import Settings

from .test_receiver_app import receiver

TOKEN = "test_auth_token_0123456789abcdef"
URL = "https://otp.example.com/twilio/status?route=tw1"  # docs/provider-routes.md §D.1 T5
T5 = "rlrjFrywngivlnMDp+RKAH84Ag0="
CALLBACK = {
    "AccountSid": "AC00000000000000000000000000000001", "ApiVersion": "2010-04-01", "ErrorCode": "30003",
    "From": "+12015550123", "MessageSid": "SM00000000000000000000000000000002",
    "MessageStatus": "undelivered", "SmsSid": "SM00000000000000000000000000000002",
    "SmsStatus": "undelivered", "To": "+14155550100",
}


def post(app: RSGIFront, form: dict[str, str], signature: str | None) -> tuple[int, bytes]:
    headers = [("content-type", "application/x-www-form-urlencoded")]
    if signature is not None:
        headers.append(("x-twilio-signature", signature))
    answer = rsgi.call(app, "POST", TWILIO_STATUS_PATH, headers=headers, body=urlencode(form).encode())
    return answer.status, answer.body


@pytest.fixture
def app(settings: Settings, redis_client: redis.Redis) -> RSGIFront:
    configured = settings.replace(twilio_auth_token=TOKEN, twilio_status_url=URL)
    return receiver(configured, redis_client, clock=lambda: 1700000000.0)


def entries(client: redis.Redis, settings: Settings) -> list[dict[str, str]]:
    found = client.xrange(f"{settings.key_prefix}{c.KEY_RECEIPTS_STREAM}")
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in found]


def test_published_vector_is_accepted_and_queued_as_a_receipt(app: RSGIFront, settings: Settings,
                                                              redis_client: redis.Redis) -> None:
    """T5, signed over the configured URL, is queued with our field names: MessageSid is the
    message-id, `undelivered` is `failed`, ErrorCode the err-code, `To` the msisdn without `+`."""
    assert twilio_signature(TOKEN, URL, CALLBACK) == T5
    status, body = post(app, CALLBACK, T5)
    assert (status, body) == (200, b'{"status":"ok"}')
    [entry] = entries(redis_client, settings)
    assert entry["messageId"] == "SM00000000000000000000000000000002"
    assert (entry["status"], entry["err-code"], entry["msisdn"]) == ("failed", "30003", "14155550100")
    assert entry["route"] == "twilio" and entry["twilio-status"] == "undelivered"


@pytest.mark.parametrize("signature", [None, "", "rlrjFrywngivlnMDp+RKAH84Ag0X", T5.lower()])
def test_forged_or_missing_signature_is_refused(app: RSGIFront, settings: Settings,
                                                redis_client: redis.Redis, signature: str | None) -> None:
    """A wrong or missing X-Twilio-Signature is 403 and nothing is queued."""
    assert post(app, CALLBACK, signature)[0] == 403
    assert entries(redis_client, settings) == []


def test_a_changed_param_breaks_the_signature(app: RSGIFront, settings: Settings,
                                              redis_client: redis.Redis) -> None:
    """The signature covers every param: a forged `MessageStatus` is refused."""
    assert post(app, {**CALLBACK, "MessageStatus": "delivered"}, T5)[0] == 403


def test_a_repeated_callback_is_queued_once(app: RSGIFront, settings: Settings,
                                            redis_client: redis.Redis) -> None:
    """The same (MessageSid, MessageStatus) again is answered `duplicate` and not queued."""
    assert post(app, CALLBACK, T5)[0] == 200
    assert post(app, CALLBACK, T5) == (200, b'{"status":"duplicate"}')
    assert len(entries(redis_client, settings)) == 1


def test_without_message_sid_it_is_malformed(app: RSGIFront) -> None:
    """A signed callback without MessageSid/MessageStatus is 400."""
    form = {k: v for k, v in CALLBACK.items() if k != "MessageSid"}
    assert post(app, form, twilio_signature(TOKEN, URL, form))[0] == 400


def test_unconfigured_receiver_refuses_callbacks(settings: Settings, redis_client: redis.Redis) -> None:
    """Without the auth token and status URL nothing can be checked: 403."""
    app = receiver(settings, redis_client)
    assert post(app, CALLBACK, T5)[0] == 403


@pytest.mark.parametrize(("twilio", "ours"), [("queued", "buffered"), ("sent", "accepted"),
                                              ("delivered", "delivered"), ("undelivered", "failed"),
                                              ("failed", "rejected")])
def test_statuses_map_onto_ours(twilio: str, ours: str) -> None:
    """queued/sent/delivered/undelivered/failed become our receipt states (delivered gets err-code 0)."""
    fields = receipt_fields({"MessageSid": "SM1", "MessageStatus": twilio, "To": "+1636"}, 1.0)
    assert fields["status"] == ours
    assert fields.get("err-code") == ("0" if twilio == "delivered" else None)


SHARED_KEY = "twilio-shared-key-secret-0123456789"  # docs/provider-routes.md §D.1 T7/T8


class MultiDict(dict[str, list[str]]):
    """A form with repeated names as a web framework hands it to RequestValidator (``getall``)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def post_pairs(app: RSGIFront, pairs: list[tuple[str, str]], key: str, algorithm: str | None) -> int:
    """POST ``pairs`` signed by twilio-python's RequestValidator with ``key``; with ``algorithm`` the
    settings header names it (a SharedKey), without it the legacy SHA-1 request."""
    form = MultiDict()
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    signature = RequestValidator(key).compute_signature(URL, form, algorithm or "HMAC_SHA1")
    headers = [("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", signature)]
    if algorithm:
        headers.append(("x-twilio-webhooks-signature-settings", f"key=sharedkey_1,algorithm={algorithm}"))
    return rsgi.call(app, "POST", TWILIO_STATUS_PATH, headers=headers, body=urlencode(pairs).encode()).status


@pytest.fixture
def shared_app(settings: Settings, redis_client: redis.Redis) -> RSGIFront:
    configured = settings.replace(twilio_auth_token=TOKEN, twilio_status_url=URL,
                                  twilio_signing_key=SHARED_KEY)
    return receiver(configured, redis_client, clock=lambda: 1700000000.0)


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1", "hmac_sha256"])
def test_a_shared_key_callback_is_checked_with_the_algorithm_its_header_names(
        shared_app: RSGIFront, settings: Settings, redis_client: redis.Redis, algorithm: str) -> None:
    """With X-Twilio-Webhooks-Signature-Settings: the SharedKey secret and the header's HMAC (any case),
    as RequestValidator computes it; T7 is the published SHA-256 value."""
    assert RequestValidator(SHARED_KEY).compute_signature(URL, CALLBACK, "HMAC_SHA256") == (
        "71a9eLsDA0jMIed6aRnyEMn7AnANh1Nm7q/XF9cKthU=")
    assert post_pairs(shared_app, list(CALLBACK.items()), SHARED_KEY, algorithm) == 200
    assert len(entries(redis_client, settings)) == 1


def test_the_key_follows_the_header_exactly_as_the_validators_choose_it(shared_app: RSGIFront) -> None:
    """Header present: only the SharedKey secret; header absent: only the auth token (SHA-1)."""
    pairs = list(CALLBACK.items())
    assert post_pairs(shared_app, pairs, TOKEN, "HMAC_SHA256") == 403
    assert post_pairs(shared_app, pairs, SHARED_KEY, None) == 403
    assert post_pairs(shared_app, pairs, TOKEN, None) == 200


def test_an_unknown_algorithm_or_no_signing_key_is_refused(app: RSGIFront, shared_app: RSGIFront) -> None:
    """An algorithm neither SDK knows fails, as in both; a SharedKey request without
    PINRELAY_TWILIO_SIGNING_KEY cannot be checked: 403."""
    pairs = list(CALLBACK.items())
    headers = [("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", T5),
               ("x-twilio-webhooks-signature-settings", "key=k,algorithm=HMAC_SHA512")]
    assert rsgi.call(shared_app, "POST", TWILIO_STATUS_PATH, headers=headers,
                     body=urlencode(pairs).encode()).status == 403
    assert post_pairs(app, pairs, SHARED_KEY, "HMAC_SHA256") == 403


def test_repeated_names_are_signed_as_twilio_signs_them_and_applied(
        shared_app: RSGIFront, settings: Settings, redis_client: redis.Redis) -> None:
    """T8: `Tag` three times (b, a, b) is signed as each distinct value, sorted; accepted and queued.
    The same body parsed keeping the last value (as before) would not verify."""
    pairs = [*CALLBACK.items(), ("Tag", "b"), ("Tag", "a"), ("Tag", "b")]
    form = MultiDict()
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    assert RequestValidator(SHARED_KEY).compute_signature(URL, form, "HMAC_SHA256") == (
        "Eu/cFqzUgh38rqIjzoXQQqEtdvGmH0cg0VPQV752WU8=")
    assert post_pairs(shared_app, pairs, SHARED_KEY, "HMAC_SHA256") == 200
    [entry] = entries(redis_client, settings)
    assert (entry["status"], entry["err-code"]) == ("failed", "30003")


def test_a_field_we_read_given_twice_differently_is_400(app: RSGIFront) -> None:
    """Two different MessageStatus values, validly signed: which one is meant is unknowable."""
    pairs = [*CALLBACK.items(), ("MessageStatus", "delivered")]
    assert post_pairs(app, pairs, TOKEN, None) == 400


def test_a_validity_period_expiry_is_expired() -> None:
    """`failed` with ErrorCode 30036 (Validity Period Expired) is our `expired`, §V."""
    fields = receipt_fields({"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "30036"}, 1.0)
    assert (fields["status"], fields["err-code"]) == ("expired", "30036")
