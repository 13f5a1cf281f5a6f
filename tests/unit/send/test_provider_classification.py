"""Every status code of docs/provider-api.md §3, and every HTTP shape, maps to one typed outcome."""

from __future__ import annotations

import json

import pytest
import requests

from worker.errors import PermanentProviderError, TransientProviderError, UnconfirmedSendError
from worker.send.routes.vonage import STATUS_NAMES, classify_status, parse_response, throttle_wait_s

TRANSIENT = ["1", "5", "10", "13"]
PERMANENT = [code for code in STATUS_NAMES if code not in {"0", *TRANSIENT}]


def _response(status: int, body: object = None, *, text: str | None = None,
              headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    raw = text if text is not None else json.dumps(body)
    response._content = raw.encode()
    response.headers.update(headers or {"Content-Type": "application/json"})
    return response


def _ok(status: str = "0", **extra: str) -> dict[str, object]:
    msg = {"to": "16365553226", "message-id": "0C000000217B7F02", "status": status,
           "remaining-balance": "15.5", "message-price": "0.0333", "network": "310004", **extra}
    return {"message-count": "1", "messages": [msg]}


def test_status_zero_is_accepted_with_message_id() -> None:
    """Status "0" yields Accepted carrying the provider's message-id, network and price."""
    accepted = parse_response(_response(200, _ok()), 0.01)
    assert accepted.message_id == "0C000000217B7F02"
    assert accepted.network == "310004"
    assert accepted.price == "0.0333"


@pytest.mark.parametrize("code", TRANSIENT)
def test_transient_codes_raise_transient(code: str) -> None:
    """Codes 1, 5, 10 and 13 are worth retrying."""
    with pytest.raises(TransientProviderError) as info:
        classify_status({"status": code, "error-text": "x"})
    assert info.value.status == code


@pytest.mark.parametrize("code", PERMANENT)
def test_every_other_documented_code_is_permanent(code: str) -> None:
    """Credentials, barred, opted out and every other documented code are not retried."""
    with pytest.raises(PermanentProviderError) as info:
        classify_status({"status": code})
    assert info.value.status == code
    assert STATUS_NAMES[code] in str(info.value)


@pytest.mark.parametrize("code", ["17", "18", "21", "99", "abc", ""])
def test_undocumented_codes_are_permanent(code: str) -> None:
    """A code the docs never mention is treated as permanent, not retried forever."""
    with pytest.raises(PermanentProviderError):
        classify_status({"status": code})


def test_throttle_wait_is_parsed_from_error_text() -> None:
    """Status 1's `please wait [ 978 ]` becomes a 0.978 s retry hint."""
    with pytest.raises(TransientProviderError) as info:
        classify_status({"status": "1",
                         "error-text": "Throughput Rate Exceeded - please wait [ 978 ] and retry"})
    assert info.value.retry_after == pytest.approx(0.978)
    assert throttle_wait_s("no number here") is None


def test_http_429_is_transient_with_retry_after() -> None:
    """HTTP 429 honours the Retry-After header."""
    with pytest.raises(TransientProviderError) as info:
        parse_response(_response(429, text="", headers={"Retry-After": "3"}), 0.0)
    assert info.value.retry_after == 3.0
    assert info.value.code == "http-429"


@pytest.mark.parametrize("status", [500, 503])
def test_http_5xx_is_transient(status: int) -> None:
    """A server error from the provider itself is transient."""
    with pytest.raises(TransientProviderError):
        parse_response(_response(status, text="oops"), 0.0)


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_502_504_is_unconfirmed(status: int) -> None:
    """A gateway's 502/504 may come after it forwarded the request: the PIN may be out, so the
    send is unconfirmed, never retried (issue 10, finding 10)."""
    with pytest.raises(UnconfirmedSendError) as info:
        parse_response(_response(status, text="<html>Bad Gateway</html>"), 0.0)
    assert info.value.code == f"http-{status}"
    assert "gateway" in str(info.value)


def test_http_401_is_permanent() -> None:
    """HTTP 401 means the credentials are wrong: permanent."""
    with pytest.raises(PermanentProviderError):
        parse_response(_response(401, text=""), 0.0)


@pytest.mark.parametrize("text", ["<html>gateway</html>", "", "{}", '{"messages": []}',
                                  '{"messages": "x"}', "[1, 2]", '{"messages": [1]}'])
def test_unreadable_200_is_unconfirmed_not_a_crash(text: str) -> None:
    """A 200 that is not the documented JSON is a clear, non-retried error."""
    with pytest.raises(UnconfirmedSendError) as info:
        parse_response(_response(200, text=text, headers={"Content-Type": "text/html"}), 0.0)
    assert "unreadable provider response" in str(info.value)


def test_status_zero_without_message_id_is_unconfirmed() -> None:
    """Accepted but no message-id: we cannot track it, and must not resend it."""
    body = _ok()
    del body["messages"][0]["message-id"]  # type: ignore[index]
    with pytest.raises(UnconfirmedSendError):
        parse_response(_response(200, body), 0.0)


def test_multi_part_partial_failure_is_unconfirmed_with_every_accepted_id() -> None:
    """Some parts accepted, one refused (provider-routes.md §A.4): the accepted parts are out, so
    the send is unconfirmed (never resent) and keeps their ids for the receipts."""
    body = _ok()
    body["messages"].append({"status": "7"})  # type: ignore[attr-defined]
    with pytest.raises(UnconfirmedSendError) as info:
        parse_response(_response(200, body), 0.0)
    assert info.value.message_id == "0C000000217B7F02"
    assert "1 of 2 parts accepted" in str(info.value)


def test_multi_part_all_refused_is_the_first_parts_code() -> None:
    """Every part refused: nothing went out, and the first part's code decides."""
    body = {"message-count": "2", "messages": [{"status": "7"}, {"status": "1"}]}
    with pytest.raises(PermanentProviderError) as info:
        parse_response(_response(200, body), 0.0)
    assert info.value.status == "7"


def test_multi_part_accepted_keeps_every_message_id() -> None:
    """Two accepted parts: both ids kept, the first is the message-id."""
    body = _ok()
    body["messages"].append(dict(body["messages"][0], **{"message-id": "0C000000217B7F03"}))  # type: ignore[index, attr-defined]
    accepted = parse_response(_response(200, body), 0.0)
    assert accepted.message_id == "0C000000217B7F02"
    assert accepted.all_ids == ("0C000000217B7F02", "0C000000217B7F03")


def test_message_without_status_is_unconfirmed_not_permanent() -> None:
    """A 200 whose message has no `status` may have gone out: unconfirmed, not an error."""
    body = _ok()
    del body["messages"][0]["status"]  # type: ignore[index]
    with pytest.raises(UnconfirmedSendError):
        parse_response(_response(200, body), 0.0)
