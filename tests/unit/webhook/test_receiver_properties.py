"""Property tests through the whole receiver (its RSGI front): no input makes it answer 5xx or raise."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import redis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from webhook.app import RECEIPT_PATH
from worker.config import Settings

from .test_receiver_app import FORM, call, receiver

# QUERY_STRING is bytes decoded as latin-1 (PEP 3333), so any char below U+0100.
latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=200)
content_types = st.sampled_from(
    [FORM, "application/json", "application/json; charset=utf-8", "text/plain", ""]
) | st.text(st.characters(max_codepoint=0x7F, exclude_characters="\r\n"), max_size=40)
fixture_ok = hypothesis_settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    deadline=None,
    max_examples=150,
    database=None,
)


@fixture_ok
@given(
    method=st.sampled_from(["GET", "POST"]),
    query=latin1,
    body=st.binary(max_size=400),
    content_type=st.none() | content_types,
)
def test_arbitrary_requests_never_get_a_5xx(
    settings: Settings,
    redis_client: redis.Redis,
    method: str,
    query: str,
    body: bytes,
    content_type: str | None,
) -> None:
    """Any query, body and content type, signed mode or not, is answered below 500."""
    for secret in (None, "a-signature-secret"):
        app = receiver(settings.replace(signature_secret=secret), redis_client)
        answer = call(app, method, RECEIPT_PATH, query, body, content_type)
        assert answer.status < 500, answer.body
        assert "error" in json.loads(answer.body) or answer.status == 200


@fixture_ok
@given(
    fields=st.dictionaries(
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
        max_size=10,
    ),
    as_json=st.booleans(),
)
def test_queued_fields_are_exactly_the_fields_sent(
    settings: Settings, redis_client: redis.Redis, fields: dict[str, str], as_json: bool
) -> None:
    """Whatever valid fields are POSTed, the stream entry holds exactly them plus received_at."""
    fields = {**fields, "messageId": "m-1", "status": "delivered"}
    fields.pop("received_at", None)
    app = receiver(settings, redis_client, clock=lambda: 1700000000.0)
    stream = settings.key_prefix + "receipts"
    redis_client.delete(stream)
    if as_json:
        answer = call(app, "POST", body=json.dumps(fields).encode(), content_type="application/json")
    else:
        answer = call(app, "POST", body=urlencode(fields).encode(), content_type=FORM)
    assert answer.status == 200
    ((_, stored),) = redis_client.xrange(stream)
    decoded = {k.decode(): v.decode() for k, v in stored.items()}
    assert decoded == {**fields, "received_at": "1700000000.000000"}
