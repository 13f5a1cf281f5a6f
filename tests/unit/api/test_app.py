"""The HTTP API in-process through its RSGI front (what granian serves) against a real Redis.

Every refusal has its status, its stable code and its headers, and leaves nothing stored or
enqueued. The same app over real HTTP, with workers and the simulator behind it, is
tests/integration/test_api_http.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from structlog.testing import capture_logs

from tests.support import rsgi
from tests.support.rsgi import Answer
from webhook.http.rsgi import RSGIFront
from worker.api.app import Api
from worker.api.keys import ApiKeys
from worker.api.rsgi import api_core, build_app
from worker.config import Settings
from worker.local.embedded import free_port

TO = "16365553226"


def error_code(answer: Answer) -> str:
    """The stable code of an error answer (and a check that it has the documented shape)."""
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


def front(app: Api, settings: Settings) -> RSGIFront:
    """The API behind its RSGI front, as `pinrelay api` serves it (handlers on the thread pool)."""
    return RSGIFront(api_core(settings, app, threads=2))


def call(app: RSGIFront, method: str, path: str, body: bytes | None = None, *, key: str | None = None,
         content_type: str | None = "application/json", headers: dict[str, str] | None = None,
         content_length: str | None = None) -> Answer:
    pairs = [(name.lower(), value) for name, value in (headers or {}).items()]
    if body is not None:
        if content_type:
            pairs.append(("content-type", content_type))
        pairs.append(("content-length", content_length or str(len(body))))
    if key is not None:
        pairs.append(("authorization", f"Bearer {key}"))
    ends = content_length is None or int(content_length) == len(body or b"")
    return rsgi.call(app, method, path, headers=pairs, schedule=[(0.0, body)] if body else [], ends=ends)


def post_json(app: Any, path: str, data: Any, key: str | None, **kw: Any) -> Answer:
    return call(app, "POST", path, json.dumps(data).encode(), key=key, **kw)


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.replace(callback_secret="cb-secret-0123456789abcdef0123456789abcdef",
                   api_body_limit_bytes=1024)


@pytest.fixture
def app(api_settings: Settings, redis_client: redis.Redis) -> Iterator[RSGIFront]:
    yield front(build_app(api_settings, redis_client), api_settings)


@pytest.fixture
def key(api_settings: Settings, redis_client: redis.Redis) -> str:
    return ApiKeys(redis_client, api_settings.key_prefix).create("unit")["key"]


def nothing_stored(settings: Settings, client: redis.Redis) -> bool:
    records = list(client.scan_iter(match=f"{settings.key_prefix}req:*"))
    return records == [] and client.llen(settings.queue) == 0


def test_a_pin_is_accepted_and_readable(app: RSGIFront, key: str, api_settings: Settings,
                                        redis_client: redis.Redis) -> None:
    """202 {"id"} with a Location; GET answers the record with the `pinrelay status` fields."""
    answer = post_json(app, "/v1/pins", {"to": TO, "pin": "0042", "client_ref": "login-1"}, key)
    assert answer.status == 202 and set(answer.json()) == {"id"}
    rid = answer.json()["id"]
    assert answer.headers["Location"] == f"/v1/pins/{rid}"
    record = call(app, "GET", f"/v1/pins/{rid}", key=key)
    assert record.status == 200
    assert record.json()["state"] == "queued" and record.json()["client_ref"] == "login-1"
    assert redis_client.llen(api_settings.queue) == 1


def test_an_idempotency_key_repeat_answers_the_same_id_and_enqueues_once(
        app: RSGIFront, key: str, api_settings: Settings, redis_client: redis.Redis) -> None:
    first = post_json(app, "/v1/pins", {"to": TO, "pin": "1234"}, key, headers={"Idempotency-Key": "k-1"})
    again = post_json(app, "/v1/pins", {"to": TO, "pin": "1234"}, key, headers={"Idempotency-Key": "k-1"})
    assert first.status == again.status == 202 and first.json() == again.json()
    assert redis_client.llen(api_settings.queue) == 1


@pytest.mark.parametrize(("body", "code", "status"), [
    ({"pin": "1234"}, "invalid_request", 422),
    ({"to": TO, "pin": "1234", "extra": 1}, "invalid_request", 422),
    ({"to": "6365553226", "pin": "1234"}, "invalid_number", 422),
    ({"to": 16365553226, "pin": "1234"}, "invalid_number", 422),
    ({"to": TO, "pin": 1234}, "invalid_pin", 422),
    ({"to": TO, "pin": "12"}, "invalid_pin", 422),
    ({"to": TO, "pin": "1234", "client_ref": 7}, "invalid_request", 422),
    ({"to": TO, "pin": "1234", "callback_url": "ftp://example.com/"}, "invalid_callback_url", 422),
    ({"to": TO, "pin": "1234", "callback_url": "http://127.0.0.1/hook"}, "invalid_callback_url", 422),
    ([TO, "1234"], "invalid_request", 400),
])
def test_bad_input_is_refused_and_nothing_is_enqueued(app: RSGIFront, key: str, api_settings: Settings,
                                                      redis_client: redis.Redis, body: Any, code: str,
                                                      status: int) -> None:
    answer = post_json(app, "/v1/pins", body, key)
    assert (answer.status, error_code(answer)) == (status, code)
    assert nothing_stored(api_settings, redis_client)


def test_malformed_bodies_and_headers(app: RSGIFront, key: str, api_settings: Settings,
                                     redis_client: redis.Redis) -> None:
    """Not JSON: 400; not application/json: 415; over the limit: 413; a bad Idempotency-Key: 400."""
    assert error_code(call(app, "POST", "/v1/pins", b"{nope", key=key)) == "invalid_request"
    assert call(app, "POST", "/v1/pins", b"\xff\xfe", key=key).status == 400
    form = "application/x-www-form-urlencoded"
    wrong_type = call(app, "POST", "/v1/pins", b"to=1", key=key, content_type=form)
    assert (wrong_type.status, error_code(wrong_type)) == (415, "unsupported_media_type")
    big = call(app, "POST", "/v1/pins", b"{" + b" " * 2000 + b"}", key=key)
    assert (big.status, error_code(big)) == (413, "payload_too_large")
    declared = call(app, "POST", "/v1/pins", b"{}", key=key, content_length="999999")
    assert declared.status == 413
    bad_idem = post_json(app, "/v1/pins", {"to": TO, "pin": "1234"}, key, headers={"Idempotency-Key": "a b"})
    assert (bad_idem.status, error_code(bad_idem)) == (400, "invalid_request")
    assert nothing_stored(api_settings, redis_client)


def test_missing_bad_and_revoked_keys_are_401_with_a_bearer_challenge(
        app: RSGIFront, key: str, api_settings: Settings, redis_client: redis.Redis) -> None:
    body = {"to": TO, "pin": "1234"}
    missing = post_json(app, "/v1/pins", body, None)
    assert (missing.status, error_code(missing)) == (401, "unauthorized")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="pinrelay"'
    basic = post_json(app, "/v1/pins", body, None, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status == 401 and 'error="invalid_request"' in basic.headers["WWW-Authenticate"]
    wrong = post_json(app, "/v1/pins", body, "pk_not-a-key")
    assert wrong.status == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    keys = ApiKeys(redis_client, api_settings.key_prefix)
    keys.revoke(keys.list()[0]["id"])
    revoked = call(app, "GET", "/v1/pins/abc", key=key)
    assert revoked.status == 401 and "revoked" in revoked.json()["error"]["message"]
    assert nothing_stored(api_settings, redis_client)


def test_paths_and_methods(app: RSGIFront, key: str) -> None:
    """Unknown path or id: 404 not_found; another method: 405 with Allow."""
    assert error_code(call(app, "GET", "/v2/pins", key=key)) == "not_found"
    assert call(app, "GET", "/v1/pins/no.such.id", key=key).status == 404
    assert call(app, "GET", "/v1/pins/" + "a" * 65, key=key).status == 404
    unknown = call(app, "GET", "/v1/pins/0123456789abcdef", key=key)
    assert (unknown.status, error_code(unknown)) == (404, "not_found")
    wrong = call(app, "DELETE", "/v1/pins", key=key)
    assert (wrong.status, error_code(wrong), wrong.headers["Allow"]) == (405, "method_not_allowed", "POST")


def test_an_abuse_limit_is_429_limit_exceeded_with_retry_after(
        api_settings: Settings, redis_client: redis.Redis, key: str) -> None:
    app = front(build_app(api_settings.replace(per_number_10min=1), redis_client), api_settings)
    assert post_json(app, "/v1/pins", {"to": TO, "pin": "1234"}, key).status == 202
    refused = post_json(app, "/v1/pins", {"to": TO, "pin": "5678"}, key)
    assert (refused.status, error_code(refused), refused.headers["Retry-After"]) == (
        429, "limit_exceeded", "600")


def test_the_per_key_rate_limit_is_429_rate_limited(api_settings: Settings, redis_client: redis.Redis,
                                                    key: str) -> None:
    app = front(build_app(api_settings.replace(api_rate_per_key=1), redis_client), api_settings)
    assert call(app, "GET", "/v1/pins/abc", key=key).status == 404
    limited = call(app, "GET", "/v1/pins/abc", key=key)
    assert (limited.status, error_code(limited)) == (429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1


def test_redis_down_is_503_and_never_a_500(api_settings: Settings) -> None:
    """Authentication needs Redis: every /v1 call answers 503 unavailable; readyz says so too."""
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    elsewhere = api_settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = front(build_app(elsewhere, dead), api_settings)
    answer = post_json(app, "/v1/pins", {"to": TO, "pin": "1234"}, "pk_any")
    assert (answer.status, error_code(answer), answer.headers["Retry-After"]) == (503, "unavailable", "1")
    assert call(app, "GET", "/readyz").status == 503
    health = call(app, "GET", "/healthz")
    assert health.status == 200 and health.json() == {"status": "ok", "redis": False}


def test_an_unexpected_error_is_a_bare_500_and_logged(api_settings: Settings, redis_client: redis.Redis,
                                                      key: str) -> None:
    def boom(request: Any) -> Any:
        raise RuntimeError("secret detail /srv/app.py line 12")

    keys = ApiKeys(redis_client, api_settings.key_prefix)
    app = front(Api(api_settings, redis_client, keys, {name: boom for name in (
        "pins.create", "pins.read", "verifications.start", "verifications.read", "verifications.check",
        "verifications.resend", "hooks.supabase", "hooks.generic", "guard.status", "guard.unblock",
        "guard.allow")}), api_settings)
    with capture_logs() as logs:
        answer = call(app, "GET", "/v1/pins/abc", key=key)
    assert answer.status == 500
    assert answer.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert b"secret detail" not in answer.body and b"Traceback" not in answer.body
    assert [e["event"] for e in logs] == ["api_internal_error"]


def test_the_unauthenticated_endpoints(app: RSGIFront) -> None:
    document = call(app, "GET", "/openapi.json")
    assert document.status == 200 and document.json()["openapi"].startswith("3.1")
    assert call(app, "GET", "/healthz").json() == {"status": "ok", "redis": True}
    assert call(app, "GET", "/readyz").status == 200
    metrics = call(app, "GET", "/metrics")
    assert metrics.status == 200 and b"pinrelay_api_requests" in metrics.body


def test_verifications_without_a_secret_are_503_naming_the_variable(app: RSGIFront, key: str) -> None:
    answer = post_json(app, "/v1/verifications", {"to": TO}, key)
    assert (answer.status, error_code(answer)) == (503, "unavailable")
    assert "PINRELAY_VERIFY_SECRET" in answer.json()["error"]["message"]


def test_a_verification_with_a_callback_is_watched(api_settings: Settings, redis_client: redis.Redis,
                                                   key: str) -> None:
    """The URL is checked before any code is sent, then stored on the verification and watched."""
    settings = api_settings.replace(verify_secret="verify-secret-0123456789abcdef0123456789",
                       callback_allow_private=True)
    app = front(build_app(settings, redis_client), api_settings)
    answer = post_json(app, "/v1/verifications", {"to": TO, "length": 7.0, "callback_url": "http://127.0.0.1/v"},
                       key)
    assert answer.status == 202
    vid = answer.json()["id"]
    assert redis_client.hget(f"{settings.key_prefix}verify:{vid}", "callback_url") == b"http://127.0.0.1/v"
    assert redis_client.zscore(f"{settings.key_prefix}cbwatch:verification", vid) is not None
    assert call(app, "GET", f"/v1/verifications/{vid}", key=key).json()["length"] == 7
    strict = front(build_app(settings.replace(callback_allow_private=False), redis_client), api_settings)
    refused = post_json(strict, "/v1/verifications", {"to": TO, "callback_url": "http://127.0.0.1/v"}, key)
    assert (refused.status, error_code(refused)) == (422, "invalid_callback_url")
    assert len(list(redis_client.scan_iter(match=f"{settings.key_prefix}verify:*"))) == 1


def test_deep_or_repeated_json_is_a_400_never_a_500(key: str, api_settings: Settings,
                                                    redis_client: redis.Redis) -> None:
    """Issue 23 finding 7: 5,000 levels of nesting (it was a 500 and an ERROR traceback per
    request) and a field named twice (it took the last) are each a 400 invalid_request that
    says why; nothing is stored and nothing is logged at error."""
    roomy = api_settings.replace(api_body_limit_bytes=16 * 1024)  # the default limit
    app = front(build_app(roomy, redis_client), roomy)
    deep = b"[" * 5000 + b"]" * 5000
    twice = b'{"to": "16365553226", "pin": "1234", "pin": "9999"}'
    with capture_logs() as logs:
        answers = [call(app, "POST", "/v1/pins", body, key=key) for body in (deep, twice)]
    assert [(a.status, a.json()["error"]) for a in answers] == [
        (400, {"code": "invalid_request", "message": "JSON nested too deeply"}),
        (400, {"code": "invalid_request", "message": "a name appears twice in a JSON object"})]
    assert not [e for e in logs if e["log_level"] == "error"]
    assert nothing_stored(api_settings, redis_client)


def test_a_stalled_body_is_408_and_holds_no_thread(api_settings: Settings, redis_client: redis.Redis,
                                                   key: str) -> None:
    """A body that stops arriving is a 408 request_timeout at the deadline, with `Connection:
    close`; a body cut off is a 400; neither reaches a handler thread (the pool has one)."""
    app = RSGIFront(api_core(api_settings.replace(webhook_body_timeout_s=0.3),
                             build_app(api_settings, redis_client), threads=1))
    headers = [("content-type", "application/json"), ("content-length", "40"),
               ("authorization", f"Bearer {key}")]
    stalled = rsgi.call(app, "POST", "/v1/pins", headers=headers, schedule=[(0.0, b'{"to": ')], ends=False)
    assert (stalled.status, error_code(stalled), stalled.headers["Connection"]) == (
        408, "request_timeout", "close")
    cut = rsgi.call(app, "POST", "/v1/pins", headers=headers, schedule=[(0.0, b'{"to": '), (0.0, rsgi.CUT)])
    assert (cut.status, error_code(cut)) == (400, "invalid_request")
    assert nothing_stored(api_settings, redis_client)
