"""Twilio status callbacks at /twilio-status-webhook, driven in-process through the receiver's
RSGI front against a real Redis: checked with X-Twilio-Signature (the published T5 vector), mapped onto our
receipt fields, pushed on the receipts stream once."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import redis

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
