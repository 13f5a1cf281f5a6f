"""The HTTP API's WSGI app in-process (under wsgiref's validator) against a real Redis.

Every refusal has its status, its stable code and its headers, and leaves nothing stored or
enqueued. The same app over real HTTP, with workers and the simulator behind it, is
tests/integration/test_api_http.py.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.validate import validator

import pytest
import redis
from structlog.testing import capture_logs

from worker.api.app import ApiApp
from worker.api.keys import ApiKeys
from worker.api.wsgi import build_app
from worker.config import Settings
from worker.local.embedded import free_port

TO = "16365553226"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str:
        body = self.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        return str(body["error"]["code"])


def call(app: Any, method: str, path: str, body: bytes | None = None, *, key: str | None = None,
         content_type: str | None = "application/json", headers: dict[str, str] | None = None,
         content_length: str | None = None) -> Answer:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "test", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body is not None:
        environ["CONTENT_LENGTH"] = content_length or str(len(body))
        if content_type:
            environ["CONTENT_TYPE"] = content_type
    if key is not None:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, response_headers
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return Answer(int(seen["status"].split()[0]), dict(seen["headers"]), payload)


def post_json(app: Any, path: str, data: Any, key: str | None, **kw: Any) -> Answer:
    return call(app, "POST", path, json.dumps(data).encode(), key=key, **kw)


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.replace(callback_secret="cb-secret-0123456789abcdef0123456789abcdef",
                   api_body_limit_bytes=1024)


@pytest.fixture
def app(api_settings: Settings, redis_client: redis.Redis) -> Iterator[ApiApp]:
    yield build_app(api_settings, redis_client)


@pytest.fixture
def key(api_settings: Settings, redis_client: redis.Redis) -> str:
    return ApiKeys(redis_client, api_settings.key_prefix).create("unit")["key"]


def nothing_stored(settings: Settings, client: redis.Redis) -> bool:
    records = list(client.scan_iter(match=f"{settings.key_prefix}req:*"))
    return records == [] and client.llen(settings.queue) == 0


def test_a_pin_is_accepted_and_readable(app: ApiApp, key: str, api_settings: Settings,
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
        app: ApiApp, key: str, api_settings: Settings, redis_client: redis.Redis) -> None:
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
def test_bad_input_is_refused_and_nothing_is_enqueued(app: ApiApp, key: str, api_settings: Settings,
                                                      redis_client: redis.Redis, body: Any, code: str,
                                                      status: int) -> None:
    answer = post_json(app, "/v1/pins", body, key)
    assert (answer.status, answer.code) == (status, code)
    assert nothing_stored(api_settings, redis_client)


def test_malformed_bodies_and_headers(app: ApiApp, key: str, api_settings: Settings,
                                     redis_client: redis.Redis) -> None:
    """Not JSON: 400; not application/json: 415; over the limit: 413; a bad Idempotency-Key: 400."""
    assert call(app, "POST", "/v1/pins", b"{nope", key=key).code == "invalid_request"
    assert call(app, "POST", "/v1/pins", b"\xff\xfe", key=key).status == 400
    form = "application/x-www-form-urlencoded"
    wrong_type = call(app, "POST", "/v1/pins", b"to=1", key=key, content_type=form)
    assert (wrong_type.status, wrong_type.code) == (415, "unsupported_media_type")
    big = call(app, "POST", "/v1/pins", b"{" + b" " * 2000 + b"}", key=key)
    assert (big.status, big.code) == (413, "payload_too_large")
    declared = call(app, "POST", "/v1/pins", b"{}", key=key, content_length="999999")
    assert declared.status == 413
    bad_idem = post_json(app, "/v1/pins", {"to": TO, "pin": "1234"}, key, headers={"Idempotency-Key": "a b"})
    assert (bad_idem.status, bad_idem.code) == (400, "invalid_request")
    assert nothing_stored(api_settings, redis_client)


def test_missing_bad_and_revoked_keys_are_401_with_a_bearer_challenge(
        app: ApiApp, key: str, api_settings: Settings, redis_client: redis.Redis) -> None:
    body = {"to": TO, "pin": "1234"}
    missing = post_json(app, "/v1/pins", body, None)
    assert (missing.status, missing.code) == (401, "unauthorized")
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


def test_paths_and_methods(app: ApiApp, key: str) -> None:
    """Unknown path or id: 404 not_found; another method: 405 with Allow."""
    assert call(app, "GET", "/v2/pins", key=key).code == "not_found"
    assert call(app, "GET", "/v1/pins/no.such.id", key=key).status == 404
    assert call(app, "GET", "/v1/pins/" + "a" * 65, key=key).status == 404
    unknown = call(app, "GET", "/v1/pins/0123456789abcdef", key=key)
    assert (unknown.status, unknown.code) == (404, "not_found")
    wrong = call(app, "DELETE", "/v1/pins", key=key)
    assert (wrong.status, wrong.code, wrong.headers["Allow"]) == (405, "method_not_allowed", "POST")


def test_an_abuse_limit_is_429_limit_exceeded_with_retry_after(
        api_settings: Settings, redis_client: redis.Redis, key: str) -> None:
    app = build_app(api_settings.replace(per_number_10min=1), redis_client)
    assert post_json(app, "/v1/pins", {"to": TO, "pin": "1234"}, key).status == 202
    refused = post_json(app, "/v1/pins", {"to": TO, "pin": "5678"}, key)
    assert (refused.status, refused.code, refused.headers["Retry-After"]) == (429, "limit_exceeded", "600")


def test_the_per_key_rate_limit_is_429_rate_limited(api_settings: Settings, redis_client: redis.Redis,
                                                    key: str) -> None:
    app = build_app(api_settings.replace(api_rate_per_key=1), redis_client)
    assert call(app, "GET", "/v1/pins/abc", key=key).status == 404
    limited = call(app, "GET", "/v1/pins/abc", key=key)
    assert (limited.status, limited.code) == (429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1


def test_redis_down_is_503_and_never_a_500(api_settings: Settings) -> None:
    """Authentication needs Redis: every /v1 call answers 503 unavailable; readyz says so too."""
    dead = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    app = build_app(api_settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0"), dead)
    answer = post_json(app, "/v1/pins", {"to": TO, "pin": "1234"}, "pk_any")
    assert (answer.status, answer.code, answer.headers["Retry-After"]) == (503, "unavailable", "1")
    assert call(app, "GET", "/readyz").status == 503
    health = call(app, "GET", "/healthz")
    assert health.status == 200 and health.json() == {"status": "ok", "redis": False}


def test_an_unexpected_error_is_a_bare_500_and_logged(api_settings: Settings, redis_client: redis.Redis,
                                                      key: str) -> None:
    def boom(request: Any) -> Any:
        raise RuntimeError("secret detail /srv/app.py line 12")

    keys = ApiKeys(redis_client, api_settings.key_prefix)
    app = ApiApp(api_settings, redis_client, keys, {name: boom for name in (
        "pins.create", "pins.read", "verifications.start", "verifications.read", "verifications.check",
        "verifications.resend")})
    with capture_logs() as logs:
        answer = call(app, "GET", "/v1/pins/abc", key=key)
    assert answer.status == 500
    assert answer.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert b"secret detail" not in answer.body and b"Traceback" not in answer.body
    assert [e["event"] for e in logs] == ["api_internal_error"]


def test_the_unauthenticated_endpoints(app: ApiApp) -> None:
    document = call(app, "GET", "/openapi.json")
    assert document.status == 200 and document.json()["openapi"].startswith("3.1")
    assert call(app, "GET", "/healthz").json() == {"status": "ok", "redis": True}
    assert call(app, "GET", "/readyz").status == 200
    metrics = call(app, "GET", "/metrics")
    assert metrics.status == 200 and b"pinrelay_api_requests" in metrics.body


def test_verifications_without_a_secret_are_503_naming_the_variable(app: ApiApp, key: str) -> None:
    answer = post_json(app, "/v1/verifications", {"to": TO}, key)
    assert (answer.status, answer.code) == (503, "unavailable")
    assert "PINRELAY_VERIFY_SECRET" in answer.json()["error"]["message"]


def test_a_verification_with_a_callback_is_watched(api_settings: Settings, redis_client: redis.Redis,
                                                   key: str) -> None:
    """The URL is checked before any code is sent, then stored on the verification and watched."""
    settings = api_settings.replace(verify_secret="verify-secret-0123456789abcdef0123456789",
                       callback_allow_private=True)
    app = build_app(settings, redis_client)
    answer = post_json(app, "/v1/verifications", {"to": TO, "length": 7.0, "callback_url": "http://127.0.0.1/v"},
                       key)
    assert answer.status == 202
    vid = answer.json()["id"]
    assert redis_client.hget(f"{settings.key_prefix}verify:{vid}", "callback_url") == b"http://127.0.0.1/v"
    assert redis_client.zscore(f"{settings.key_prefix}cbwatch:verification", vid) is not None
    assert call(app, "GET", f"/v1/verifications/{vid}", key=key).json()["length"] == 7
    strict = build_app(settings.replace(callback_allow_private=False), redis_client)
    refused = post_json(strict, "/v1/verifications", {"to": TO, "callback_url": "http://127.0.0.1/v"}, key)
    assert (refused.status, refused.code) == (422, "invalid_callback_url")
    assert len(list(redis_client.scan_iter(match=f"{settings.key_prefix}verify:*"))) == 1
