"""The receiver against hostile requests, in-process (issue 10: nonce spellings, `/metrics`,
a backlog nobody drains). The body deadline of the front granian serves:
tests/unit/webhook/test_receiver_front.py."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import redis

from worker.config import Settings
from worker.signing import sign

from .test_receiver_app import FORM, NOW, SECRET, SIGNED_DLR, call, receiver


@pytest.fixture
def signed_settings(settings: Settings) -> Settings:
    return settings.replace(signature_secret=SECRET, signature_method="sha256")


def _entries(client: redis.Redis, settings: Settings) -> int:
    return int(client.xlen(settings.key_prefix + "receipts"))


@pytest.mark.parametrize("spelling", ["ab&cd", "ab=cd"])
def test_nonce_respelled_with_the_signing_strings_stand_in_is_a_replay(
    signed_settings: Settings, redis_client: redis.Redis, spelling: str
) -> None:
    """The signing string turns `&` and `=` in values into `_`: a receipt whose nonce is
    `ab_cd` keeps its signature with `ab&cd`, and is still answered as a duplicate."""
    app = receiver(signed_settings, redis_client, clock=lambda: NOW)
    fields = {k: v for k, v in SIGNED_DLR.items() if k != "sig"} | {"nonce": "ab_cd"}
    signed = {**fields, "sig": sign(fields, SECRET, "sha256")}
    first = call(app, "POST", body=urlencode(signed).encode(), content_type=FORM)
    swapped = {**signed, "nonce": spelling}
    second = call(app, "POST", body=urlencode(swapped).encode(), content_type=FORM)
    assert (first.json(), second.json()) == ({"status": "ok"}, {"status": "duplicate"})
    assert _entries(redis_client, signed_settings) == 1


@pytest.mark.parametrize(("value", "served"), [("on", True), ("off", False), ("9464", False)])
def test_metrics_on_the_receipt_port_can_be_switched_off(
    settings: Settings, redis_client: redis.Redis, value: str, served: bool
) -> None:
    """PINRELAY_WEBHOOK_METRICS=off (or a port of its own) takes /metrics off the public port."""
    env = {**settings.to_env(), "PINRELAY_WEBHOOK_METRICS": value}
    app = receiver(Settings.from_env(env), redis_client)
    answer = call(app, path="/metrics")
    assert answer.status == (200 if served else 404)


def test_backlog_over_the_bound_is_503(settings: Settings, redis_client: redis.Redis) -> None:
    """With no correlator draining the stream, the receiver stops at the bound and answers 503
    (the provider retries later) instead of filling Redis."""
    app = receiver(settings.replace(webhook_backlog_max=5), redis_client)
    answers = [call(app, query=f"messageId=Q{i}&status=delivered").status for i in range(8)]
    assert answers == [200] * 5 + [503] * 3
    assert _entries(redis_client, settings) == 5
