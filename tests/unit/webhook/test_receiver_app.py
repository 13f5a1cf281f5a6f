"""The receiver driven in-process through its RSGI front (what granian serves) against a real
Redis: routes, receipts, signatures, replays, failures. Bodies in pieces, stalled or cut off:
test_receiver_front.py; the WSGI adapter: test_receiver_wsgi.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from structlog.testing import capture_logs

from tests.support import rsgi
from tests.support.rsgi import Answer
from webhook.app import RECEIPT_PATH, receiver_core
from webhook.http.rsgi import RSGIFront
from webhook.queue import result_queue
from worker.config import Settings
from worker.constants import LATE_RECEIPT_HORIZON_S
from worker.local.embedded import free_port
from worker.records.deadletters import DeadLetters
from worker.signing import sign

SECRET = "Ex4mpleSigSecret0123456789abcdef"
NOW = 1582650446.0
# docs/provider-api.md §5 worked example, signed with sha256.
SIGNED_DLR = {
    "api-key": "abcd1234",
    "client-ref": "login-7f3a9c",
    "err-code": "0",
    "message-timestamp": "2020-02-25 17:07:26",
    "messageId": "0A00000012345678",
    "msisdn": "16365553226",
    "network-code": "310004",
    "nonce": "ec11dd3e-1e7f-4db5-9467-82b02cd223b9",
    "price": "0.00480000",
    "scts": "2002251707",
    "status": "delivered",
    "timestamp": "1582650446",
    "to": "98765",
    "sig": "902FB6B59EDF2339DFDBA37BF4816EF070CB0DE9C703749BB79C9F7D8C4BEE6E",
}
FORM = "application/x-www-form-urlencoded"


def receiver(settings: Settings, client: redis.Redis, clock: Callable[[], float] = lambda: NOW) -> RSGIFront:
    """The receiver behind its RSGI front, as `pinrelay webhook` serves it."""
    return RSGIFront(receiver_core(settings, result_queue(settings, client), clock))


def call(
    app: RSGIFront,
    method: str = "GET",
    path: str = RECEIPT_PATH,
    query: str = "",
    body: bytes = b"",
    content_type: str | None = None,
    *,
    headers: Sequence[tuple[str, str]] = (),
) -> Answer:
    """One request through ``app``; a body goes with its Content-Length (unless ``headers`` say)."""
    pairs = [*headers, *([("content-type", content_type)] if content_type is not None else [])]
    return rsgi.call(app, method, path, query=query, headers=pairs, body=body or None)


@pytest.fixture
def app(settings: Settings, redis_client: redis.Redis) -> RSGIFront:
    return receiver(settings, redis_client, clock=lambda: NOW)


@pytest.fixture
def signed_settings(settings: Settings) -> Settings:
    return settings.replace(signature_secret=SECRET, signature_method="sha256")


@pytest.fixture
def signed_app(signed_settings: Settings, redis_client: redis.Redis) -> RSGIFront:
    return receiver(signed_settings, redis_client, clock=lambda: NOW)


@pytest.fixture
def entries(settings: Settings, redis_client: redis.Redis) -> Callable[[], list[dict[str, str]]]:
    """The receipts stream's entries, decoded."""

    def read() -> list[dict[str, str]]:
        raw = redis_client.xrange(settings.key_prefix + "receipts")
        return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]

    return read


@pytest.mark.parametrize(
    ("method", "query", "body", "content_type", "expected"),
    [
        pytest.param(
            "GET", "messageId=0A1&status=delivered&message-timestamp=2020-01-01+12%3A00%3A00&err-code=0",
            b"", None,
            {"messageId": "0A1", "status": "delivered", "message-timestamp": "2020-01-01 12:00:00",
             "err-code": "0"},
            id="get",
        ),
        pytest.param(
            "POST", "", urlencode({"messageId": "0A2", "status": "accepted", "to": "98765"}).encode(), FORM,
            {"messageId": "0A2", "status": "accepted", "to": "98765"},
            id="form",
        ),
        pytest.param(
            "POST", "", b'{"messageId": "0A3", "status": "delivered", "price": 0.00480000, "err-code": 0}',
            "application/json; charset=utf-8",
            {"messageId": "0A3", "status": "delivered", "price": "0.00480000", "err-code": "0"},
            id="json",
        ),
    ],
)
def test_receipt_lands_in_the_stream(
    app: RSGIFront, entries: Any, method: str, query: str, body: bytes, content_type: str | None,
    expected: dict[str, str],
) -> None:
    """A receipt as a GET, a form POST or a JSON POST is on the stream before the 200: its
    fields decoded (JSON numbers as the text that was sent), plus received_at."""
    answer = call(app, method, query=query, body=body, content_type=content_type)
    assert (answer.status, answer.json()) == (200, {"status": "ok"})
    assert entries() == [{**expected, "received_at": f"{NOW:.6f}"}]


def test_post_merges_query_and_body(app: RSGIFront, entries: Any) -> None:
    """A POST with both query and body params is queued merged, the body winning."""
    answer = call(
        app, "POST", query="messageId=0A4&status=accepted", body=b"status=delivered", content_type=FORM
    )
    assert answer.status == 200
    assert entries()[0]["status"] == "delivered"


def test_missing_message_id_is_400_and_not_queued(app: RSGIFront, entries: Any) -> None:
    """A receipt without messageId is a 400 JSON error and nothing is queued."""
    answer = call(app, query="status=delivered")
    assert (answer.status, answer.json()) == (400, {"error": "missing messageId"})
    assert answer.headers["Content-Type"] == "application/json"
    assert entries() == []


def test_malformed_json_is_400(app: RSGIFront, entries: Any) -> None:
    """A malformed JSON body is a 400 and nothing is queued."""
    answer = call(app, "POST", body=b'{"messageId": ', content_type="application/json")
    assert (answer.status, answer.json()) == (400, {"error": "malformed JSON"})
    assert entries() == []


def test_unsupported_content_type_is_415(app: RSGIFront) -> None:
    """A text/plain body is refused with 415."""
    assert call(app, "POST", body=b"messageId=1&status=ok", content_type="text/plain").status == 415


def test_bad_content_length_is_400(app: RSGIFront) -> None:
    """A Content-Length that is not a number is a 400. (Bodies that are too large, in pieces,
    stalled or cut off: test_receiver_front.py.)"""
    answer = call(app, "POST", body=b"x", content_type=FORM, headers=[("content-length", "12x")])
    assert (answer.status, answer.json()) == (400, {"error": "bad Content-Length"})


def test_deeply_nested_or_repeated_json_is_a_400_not_a_500(app: RSGIFront, entries: Any) -> None:
    """Issue 23 finding 7: a JSON body 5,000 levels deep is a 400 with a clear reason (it was a
    500 and an ERROR traceback per request), and so is an object that names a field twice
    (which would otherwise take the last)."""
    deep = b"[" * 5000 + b"]" * 5000
    twice = b'{"messageId": "0A1", "status": "failed", "status": "delivered"}'
    with capture_logs() as logs:
        answers = [call(app, "POST", body=body, content_type="application/json") for body in (deep, twice)]
    assert [(a.status, a.json()) for a in answers] == [
        (400, {"error": "JSON nested too deeply"}), (400, {"error": "a name appears twice in a JSON object"})]
    assert [e["log_level"] for e in logs] == ["info", "info"] and entries() == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("PUT", RECEIPT_PATH, "GET, POST"), ("DELETE", RECEIPT_PATH, "GET, POST"), ("POST", "/healthz", "GET")],
)
def test_wrong_method_is_405_with_allow(app: RSGIFront, method: str, path: str, allow: str) -> None:
    """Another method on a known path is a 405 that lists the allowed ones."""
    answer = call(app, method, path)
    assert answer.status == 405
    assert answer.headers["Allow"] == allow


def test_unknown_path_is_404(app: RSGIFront) -> None:
    """A path the receiver does not serve is a 404."""
    assert call(app, path="/delivery-receipts").status == 404


def test_trailing_slash_reaches_the_receipt_route(app: RSGIFront, entries: Any) -> None:
    """``/delivery-receipt-webhook/`` works too, so a dashboard typo does not lose receipts."""
    assert call(app, path=RECEIPT_PATH + "/", query="messageId=1&status=ok").status == 200
    assert len(entries()) == 1


def test_healthz_reports_redis(app: RSGIFront) -> None:
    """/healthz is 200 with redis true when Redis answers."""
    answer = call(app, path="/healthz")
    assert (answer.status, answer.json()) == (200, {"status": "ok", "redis": True})


# --- signed receipts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(urlencode(SIGNED_DLR).encode(), FORM, id="form"),
        pytest.param(json.dumps(SIGNED_DLR).encode(), "application/json", id="json"),
    ],
)
def test_signed_receipt_is_queued(
    signed_app: RSGIFront, entries: Any, body: bytes, content_type: str
) -> None:
    """The docs/provider-api.md §5 worked example, sent as a form or as JSON, verifies and is queued as
    given."""
    assert call(signed_app, "POST", body=body, content_type=content_type).status == 200
    assert entries() == [{**SIGNED_DLR, "received_at": f"{NOW:.6f}"}]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sig": None}, "missing sig"),
        ({"timestamp": None}, "missing timestamp"),
        ({"status": "failed"}, "signature mismatch"),
        ({"sig": "0" * 64}, "signature mismatch"),
    ],
)
def test_bad_signature_is_401_and_not_queued(
    signed_app: RSGIFront, entries: Any, change: dict[str, str | None], reason: str
) -> None:
    """Missing sig/timestamp, a tampered param or a wrong sig is a 401; nothing queued."""
    params = {**SIGNED_DLR, **change}
    query = urlencode({k: v for k, v in params.items() if v is not None})
    answer = call(signed_app, query=query)
    assert (answer.status, answer.json()) == (401, {"error": reason})
    assert entries() == []


@pytest.mark.parametrize("skew", [-301.0, LATE_RECEIPT_HORIZON_S + 1.0])
def test_future_or_too_old_signed_receipt_is_401(
    signed_settings: Settings, redis_client: redis.Redis, entries: Any, skew: float
) -> None:
    """A valid signature more than 300 s ahead of the receiver's clock, or older than the provider's
    retry horizon, is a 401."""
    app = receiver(signed_settings, redis_client, clock=lambda: NOW + skew)
    assert call(app, query=urlencode(SIGNED_DLR)).status == 401
    assert entries() == []


def test_late_signed_receipt_is_held_as_a_dead_letter_and_applied_on_demand(
    signed_settings: Settings, redis_client: redis.Redis, entries: Any
) -> None:
    """Signed right but 301 s old: 200 `late`, not on the stream but a `late_signature` dead letter
    (its replay `duplicate`); DeadLetters.apply_held puts it on the stream, once."""
    app = receiver(signed_settings, redis_client, clock=lambda: NOW + 301.0)
    answers = [call(app, query=urlencode(SIGNED_DLR)).json() for _ in range(2)]
    assert answers == [{"status": "late"}, {"status": "duplicate"}]
    assert entries() == []
    dead = DeadLetters(redis_client, signed_settings.key_prefix)
    [held] = dead.receipts()
    assert (held["reason"], held["message_id"]) == ("late_signature", SIGNED_DLR["messageId"])
    assert held["receipt"]["sig"] == SIGNED_DLR["sig"]
    assert dead.apply_held("no-such-id") == []
    assert dead.apply_held() == [held["id"]] and dead.apply_held() == []
    [entry] = entries()
    assert entry["messageId"] == SIGNED_DLR["messageId"] and entry["status"] == "delivered"
    assert dead.receipts() == []


def test_replayed_nonce_is_acknowledged_but_queued_once(
    signed_app: RSGIFront, entries: Any, redis_client: redis.Redis, signed_settings: Settings
) -> None:
    """The same signed receipt twice: both 200, one stream entry, nonce kept for two windows."""
    query = urlencode(SIGNED_DLR)
    first, second = call(signed_app, query=query), call(signed_app, query=query)
    assert (first.status, first.json()) == (200, {"status": "ok"})
    assert (second.status, second.json()) == (200, {"status": "duplicate"})
    assert len(entries()) == 1
    nonce_key = f"{signed_settings.key_prefix}nonce:{SIGNED_DLR['nonce']}"
    assert 0 < redis_client.ttl(nonce_key) <= 2 * signed_settings.signature_window_s


def test_replayed_signed_receipt_without_nonce_is_queued_once(
    signed_app: RSGIFront, entries: Any, redis_client: redis.Redis, signed_settings: Settings
) -> None:
    """Without a nonce the signature is the replay key: the same one twice is queued once,
    a fresh signature (a new timestamp) is queued again."""
    fields = {k: v for k, v in SIGNED_DLR.items() if k not in ("nonce", "sig")}
    replay = {**fields, "sig": sign(fields, SECRET, "sha256")}
    answers = [call(signed_app, query=urlencode(replay)).json() for _ in range(2)]
    assert answers == [{"status": "ok"}, {"status": "duplicate"}]
    later = {**fields, "timestamp": str(int(NOW) + 1)}
    assert call(signed_app, query=urlencode({**later, "sig": sign(later, SECRET, "sha256")})).status == 200
    assert len(entries()) == 2
    assert redis_client.exists(f"{signed_settings.key_prefix}nonce:sig:{replay['sig'].lower()}")


def test_unsigned_mode_ignores_nonces(app: RSGIFront, entries: Any) -> None:
    """Without a signature secret a repeated nonce is queued again (duplicates are the correlator's job)."""
    query = "messageId=1&status=ok&nonce=n-1"
    assert [call(app, query=query).status for _ in range(2)] == [200, 200]
    assert len(entries()) == 2


def test_rejected_signature_is_logged_without_secrets(
    signed_settings: Settings, redis_client: redis.Redis
) -> None:
    """The 401 is logged at info with its reason; no sig, secret or full number in any event."""
    with capture_logs() as logs:
        app = receiver(signed_settings, redis_client, clock=lambda: NOW)
        call(app, query=urlencode({**SIGNED_DLR, "status": "failed"}))
    assert logs == [
        {"event": "receipt_rejected", "http_status": 401, "reason": "signature mismatch", "log_level": "info"}
    ]
    dumped = json.dumps(logs)
    for secret in (SECRET, SIGNED_DLR["sig"], SIGNED_DLR["msisdn"]):
        assert secret not in dumped


# --- failures -----------------------------------------------------------------------


@pytest.fixture
def dead_redis() -> Iterator[redis.Redis]:
    """A client for a port nobody listens on."""
    client = redis.Redis(
        port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    yield client
    client.close()


def test_redis_down_is_503(settings: Settings, dead_redis: redis.Redis) -> None:
    """When Redis does not answer the receipt gets a 503 so the provider retries it."""
    app = receiver(settings, dead_redis)
    answer = call(app, query="messageId=1&status=ok")
    assert (answer.status, answer.json()) == (503, {"error": "result queue unavailable, retry later"})


def test_healthz_says_redis_false_when_it_is_down(settings: Settings, dead_redis: redis.Redis) -> None:
    """/healthz stays 200 (the process is alive) and reports redis false."""
    answer = call(receiver(settings, dead_redis), path="/healthz")
    assert (answer.status, answer.json()) == (200, {"status": "ok", "redis": False})


def test_readyz_is_503_when_redis_is_down(settings: Settings, dead_redis: redis.Redis) -> None:
    """/readyz is 503 while Redis is unreachable."""
    answer = call(receiver(settings, dead_redis), path="/readyz")
    assert (answer.status, answer.json()) == (
        503, {"service": "pinrelay-webhook", "status": "unavailable", "redis": False})


def test_readyz_is_200_when_redis_answers(app: RSGIFront) -> None:
    """/readyz is 200 when Redis answers, and names the service so a supervisor knows it is ours."""
    answer = call(app, path="/readyz")
    assert (answer.status, answer.json()) == (200, {"service": "pinrelay-webhook", "status": "ok",
                                                    "redis": True})


def test_unexpected_exception_is_500_without_traceback(settings: Settings, redis_client: redis.Redis) -> None:
    """A bug answers a bare 500 JSON error and is logged with its traceback, secrets scrubbed."""

    def broken_clock() -> float:
        raise RuntimeError("clock exploded")

    with capture_logs() as logs:
        app = receiver(settings, redis_client, clock=broken_clock)
        answer = call(app, query="messageId=1&status=ok")
    assert (answer.status, answer.json()) == (500, {"error": "internal error"})
    assert b"Traceback" not in answer.body and b"exploded" not in answer.body
    assert [e["event"] for e in logs] == ["receiver_internal_error"]
    assert logs[0]["log_level"] == "error"
