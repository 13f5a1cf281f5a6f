"""Parsing, validation and signature checks of delivery receipts (webhook.receipts): pure, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from webhook.errors import (
    MalformedReceiptError,
    SignatureRejectedError,
    UnsupportedMediaTypeError,
)
from webhook.receipts import (
    MAX_PARAMS,
    Receipt,
    check_signature,
    parse_body,
    parse_json,
    parse_params,
    parse_urlencoded,
)
from worker.signing import METHODS, sign, signing_string

# docs/provider-api.md §5, "Worked example (constructed signed DLR, our own secret)".
DLR_SECRET = "Ex4mpleSigSecret0123456789abcdef"
DLR = {
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
}
DLR_NOW = 1582650446.0
DLR_SIGS = {
    "sha256": "902FB6B59EDF2339DFDBA37BF4816EF070CB0DE9C703749BB79C9F7D8C4BEE6E",
    "md5hash": "9739a1e8a012a17e55e690f50bd9ce05",
}

# docs/provider-api.md §5, PHP SDK suite vectors.
PHP_SECRET = "my_secret_key_for_testing"
PHP_PARAMS = {
    "message-timestamp": "2013-11-21 15:27:30",
    "messageId": "020000001B0FE827",
    "msisdn": "14843472194",
    "text": "Test again",
    "timestamp": "1385047698",
    "to": "13239877404",
    "type": "text",
}
PHP_SIGS = {
    "md5hash": "d2e7b1dc968737c5998ad624e02f90b7",
    "md5": "DDEBD46008C2D4E93CCE578A332A52D5",
    "sha1": "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A",
    "sha256": "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330",
}


def check(params: dict[str, str], *, secret: str, method: str, now: float) -> None:
    check_signature(params, secret=secret, method=method, window_s=300, now=now)


# --- transports -------------------------------------------------------------


def test_get_query_string_decodes_plus_and_percent() -> None:
    """The GET form of message-timestamp (``+`` and ``%3A``) decodes to the plain time."""
    params = parse_params("messageId=0A1&status=delivered&message-timestamp=2020-01-01+12%3A00%3A00")
    assert params == {
        "messageId": "0A1",
        "status": "delivered",
        "message-timestamp": "2020-01-01 12:00:00",
    }


def test_form_body_is_parsed() -> None:
    """A form-urlencoded POST body yields its params."""
    body = urlencode({"messageId": "0A1", "status": "accepted"}).encode()
    assert parse_body(body, "application/x-www-form-urlencoded") == {
        "messageId": "0A1",
        "status": "accepted",
    }


def test_json_body_with_charset_is_parsed() -> None:
    """``application/json; charset=utf-8`` is read as JSON."""
    body = json.dumps({"messageId": "0A1", "status": "delivered"}).encode()
    assert parse_body(body, "application/json; charset=UTF-8") == {
        "messageId": "0A1",
        "status": "delivered",
    }


def test_body_without_content_type_is_read_as_form() -> None:
    """A POST body without Content-Type is a form, as CGI has always assumed."""
    assert parse_body(b"messageId=1&status=ok", None) == {"messageId": "1", "status": "ok"}


def test_body_wins_over_query_string() -> None:
    """Query and body are merged, the body's value winning on a clash."""
    params = parse_params(
        "status=accepted&to=98765", b"status=delivered", "application/x-www-form-urlencoded"
    )
    assert params == {"status": "delivered", "to": "98765"}


def test_json_numbers_keep_their_exact_text() -> None:
    """JSON numbers become strings with their digits as sent (no float rounding)."""
    body = b'{"price": 0.00480000, "err-code": 0, "big": 12345678901234567890, "e": 1e3}'
    assert parse_json(body) == {
        "price": "0.00480000",
        "err-code": "0",
        "big": "12345678901234567890",
        "e": "1e3",
    }


def test_json_booleans_and_null_become_strings() -> None:
    """``true``/``false`` become ``"true"``/``"false"`` and ``null`` an empty string."""
    assert parse_json(b'{"a": true, "b": false, "c": null}') == {"a": "true", "b": "false", "c": ""}


def test_pair_without_equals_is_a_blank_value() -> None:
    """``a&b=1`` gives ``a`` an empty value, as PHP and Python's parsers do."""
    assert parse_urlencoded(b"a&b=1") == {"a": "", "b": "1"}


def test_repeated_name_keeps_the_last_value() -> None:
    """A repeated name keeps its last value, like PHP's ``$_GET``."""
    assert parse_urlencoded(b"status=accepted&status=delivered") == {"status": "delivered"}


def test_utf8_percent_encoded_value_is_decoded() -> None:
    """Percent-encoded UTF-8 becomes the text it encodes."""
    assert parse_urlencoded(b"client-ref=caf%C3%A9") == {"client-ref": "café"}


def test_empty_body_is_ignored_whatever_its_type() -> None:
    """An empty body contributes nothing, even with an unsupported Content-Type."""
    assert parse_params("messageId=1&status=ok", b"", "text/plain") == {"messageId": "1", "status": "ok"}


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON body is not an object"),
        (b'"text"', "JSON body is not an object"),
        (b'{"a": {"b": "c"}}', "nested value in JSON body"),
        (b'{"a": ["b"]}', "nested value in JSON body"),
        (b'{"a": NaN}', "malformed JSON"),
        (b'{"a": Infinity}', "malformed JSON"),
        (b'{"a": "\xff"}', "body is not UTF-8"),
        (b"[" * 100_000, "JSON nested too deeply"),
        (b'{"messageId": "1", "status": "ok", "status": "delivered"}',
         "a name appears twice in a JSON object"),
        (b'{"": "x"}', "empty parameter name in JSON body"),
    ],
)
def test_bad_json_body_is_malformed(body: bytes, reason: str) -> None:
    """Each class of bad JSON body is a 400 with its own short reason."""
    with pytest.raises(MalformedReceiptError) as caught:
        parse_body(body, "application/json")
    assert caught.value.reason == reason
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"a=%zz", "bad percent-encoding in body"),
        (b"a=100%", "bad percent-encoding in body"),
        (b"a=%C3", "body is not UTF-8"),
        (b"a=\xff", "body is not UTF-8"),
        (b"=value", "empty parameter name in body"),
    ],
)
def test_bad_form_body_is_malformed(raw: bytes, reason: str) -> None:
    """Bad percent-encoding, bad UTF-8 and empty names in a form are 400s."""
    with pytest.raises(MalformedReceiptError) as caught:
        parse_body(raw, "application/x-www-form-urlencoded")
    assert caught.value.reason == reason


def test_bad_query_string_is_malformed() -> None:
    """A query string with an invalid escape is a 400 that names the query string."""
    with pytest.raises(MalformedReceiptError, match="bad percent-encoding in query string"):
        parse_params("messageId=%G1&status=ok")


def test_raw_utf8_in_query_string_is_decoded() -> None:
    """Raw UTF-8 bytes in the URL (latin-1-decoded per PEP 3333) come out as their text."""
    assert parse_params("messageId=caf\u00c3\u00a9&status=ok")["messageId"] == "caf\u00e9"


def test_query_string_a_server_decoded_as_utf8_still_parses() -> None:
    """A QUERY_STRING a server decoded as UTF-8 instead of latin-1 is still read right."""
    assert parse_params("messageId=\u4e2d&status=ok")["messageId"] == "\u4e2d"


def test_lone_surrogate_in_query_string_is_malformed() -> None:
    """A QUERY_STRING holding a lone surrogate is a 400, not a crash."""
    with pytest.raises(MalformedReceiptError, match="not UTF-8"):
        parse_params("messageId=\ud800&status=ok")


@pytest.mark.parametrize("body", [b'{"a": "\\ud800"}', b'{"\\udfff": "x"}'])
def test_json_lone_surrogate_escape_is_malformed(body: bytes) -> None:
    """A JSON escape that decodes to a lone surrogate is a 400 (Redis could not store it)."""
    with pytest.raises(MalformedReceiptError, match="not valid Unicode"):
        parse_json(body)


def test_json_surrogate_pair_escape_is_decoded() -> None:
    """A proper surrogate-pair escape decodes to its character."""
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "multipart/form-data; boundary=x", "application/xml", "application/json; charset=latin-1"],
)
def test_unsupported_content_type_is_415(content_type: str) -> None:
    """A body that is neither form nor UTF-8 JSON is refused with 415."""
    with pytest.raises(UnsupportedMediaTypeError) as caught:
        parse_body(b"messageId=1&status=ok", content_type)
    assert caught.value.http_status == 415


def test_too_many_form_params_is_malformed() -> None:
    """More than MAX_PARAMS names in one form is a 400."""
    raw = "&".join(f"k{i}=v" for i in range(MAX_PARAMS + 1)).encode()
    with pytest.raises(MalformedReceiptError, match="too many parameters"):
        parse_urlencoded(raw)


def test_too_many_json_params_is_malformed() -> None:
    """More than MAX_PARAMS names in one JSON object is a 400."""
    body = json.dumps({f"k{i}": "v" for i in range(MAX_PARAMS + 1)}).encode()
    with pytest.raises(MalformedReceiptError, match="too many parameters"):
        parse_json(body)


def test_too_many_params_after_merging_is_malformed() -> None:
    """Query and body each under the limit but over it together is a 400."""
    half = MAX_PARAMS // 2 + 1
    query = "&".join(f"q{i}=v" for i in range(half))
    body = "&".join(f"b{i}=v" for i in range(half)).encode()
    with pytest.raises(MalformedReceiptError, match="too many parameters"):
        parse_params(query, body, None)


@pytest.mark.parametrize("missing", ["messageId", "status"])
def test_receipt_without_a_required_field_is_malformed(missing: str) -> None:
    """A receipt lacking messageId or status (or with it blank) is a 400 naming it."""
    fields = {"messageId": "0A1", "status": "delivered"}
    fields[missing] = " "
    with pytest.raises(MalformedReceiptError, match=f"missing {missing}"):
        Receipt(fields)
    del fields[missing]
    with pytest.raises(MalformedReceiptError, match=f"missing {missing}"):
        Receipt(fields)


def test_stream_fields_add_received_at() -> None:
    """The stream entry is every field as given plus the receiver's ``received_at``."""
    receipt = Receipt(parse_params("messageId=0A1&status=delivered", b"", None))
    assert receipt.stream_fields(1700000000.25) == {
        "messageId": "0A1",
        "status": "delivered",
        "received_at": "1700000000.250000",
    }
    assert (receipt.message_id, receipt.status, receipt.nonce) == ("0A1", "delivered", None)


# --- signatures ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "sig"), sorted(DLR_SIGS.items()))
def test_constructed_dlr_vector_verifies(method: str, sig: str) -> None:
    """docs/provider-api.md §5's constructed DLR verifies with its sha256 and md5hash signatures."""
    check({**DLR, "sig": sig}, secret=DLR_SECRET, method=method, now=DLR_NOW)


@pytest.mark.parametrize(("method", "sig"), sorted(PHP_SIGS.items()))
def test_php_sdk_vectors_verify(method: str, sig: str) -> None:
    """The PHP SDK's captured webhook verifies under each of its four methods."""
    check({**PHP_PARAMS, "sig": sig}, secret=PHP_SECRET, method=method, now=1385047698.0)


def test_sha512_matches_an_independent_hmac() -> None:
    """sha512 (no published vector) verifies against HMAC-SHA512 computed here."""
    payload = signing_string(DLR).encode()
    sig = hmac.new(DLR_SECRET.encode(), payload, hashlib.sha512).hexdigest().upper()
    check({**DLR, "sig": sig}, secret=DLR_SECRET, method="sha512", now=DLR_NOW)


def test_signing_string_matches_the_worked_example() -> None:
    """The string signed for the worked example is exactly docs/provider-api.md's."""
    assert signing_string(DLR) == (
        "&api-key=abcd1234&client-ref=login-7f3a9c&err-code=0"
        "&message-timestamp=2020-02-25 17:07:26&messageId=0A00000012345678&msisdn=16365553226"
        "&network-code=310004&nonce=ec11dd3e-1e7f-4db5-9467-82b02cd223b9&price=0.00480000"
        "&scts=2002251707&status=delivered&timestamp=1582650446&to=98765"
    )


@pytest.mark.parametrize("method", METHODS)
def test_lower_case_signature_is_accepted(method: str) -> None:
    """A hex signature in lower case verifies for every method."""
    sig = sign(DLR, DLR_SECRET, method).lower()
    check({**DLR, "sig": sig}, secret=DLR_SECRET, method=method, now=DLR_NOW)


@pytest.mark.parametrize("method", METHODS)
def test_upper_case_signature_is_accepted(method: str) -> None:
    """A hex signature in upper case (even md5hash) verifies for every method."""
    sig = sign(DLR, DLR_SECRET, method).upper()
    check({**DLR, "sig": sig}, secret=DLR_SECRET, method=method, now=DLR_NOW)


@pytest.mark.parametrize("method", METHODS)
def test_tampered_param_is_rejected(method: str) -> None:
    """Changing any signed value after signing fails verification."""
    signed = {**DLR, "sig": sign(DLR, DLR_SECRET, method)}
    signed["status"] = "failed"
    with pytest.raises(SignatureRejectedError, match="signature mismatch"):
        check(signed, secret=DLR_SECRET, method=method, now=DLR_NOW)


def test_added_param_is_rejected() -> None:
    """An extra param that was not signed fails verification."""
    signed = {**DLR, "sig": DLR_SIGS["sha256"], "extra": "1"}
    with pytest.raises(SignatureRejectedError, match="signature mismatch"):
        check(signed, secret=DLR_SECRET, method="sha256", now=DLR_NOW)


def test_wrong_method_is_rejected() -> None:
    """A sha256 signature does not pass when the account is set to sha512."""
    with pytest.raises(SignatureRejectedError, match="signature mismatch"):
        check({**DLR, "sig": DLR_SIGS["sha256"]}, secret=DLR_SECRET, method="sha512", now=DLR_NOW)


def test_wrong_secret_is_rejected() -> None:
    """A signature made with another secret fails."""
    with pytest.raises(SignatureRejectedError, match="signature mismatch"):
        check({**DLR, "sig": DLR_SIGS["sha256"]}, secret="another-secret", method="sha256", now=DLR_NOW)


@pytest.mark.parametrize(("drop", "reason"), [("sig", "missing sig"), ("timestamp", "missing timestamp")])
def test_missing_sig_or_timestamp_is_rejected(drop: str, reason: str) -> None:
    """Without sig or timestamp a signed-mode receipt is a 401."""
    params = {**DLR, "sig": DLR_SIGS["sha256"]}
    del params[drop]
    with pytest.raises(SignatureRejectedError) as caught:
        check(params, secret=DLR_SECRET, method="sha256", now=DLR_NOW)
    assert caught.value.reason == reason
    assert caught.value.http_status == 401


@pytest.mark.parametrize("offset", [-301.0, 301.0, -86400.0, 86400.0])
def test_stale_or_future_timestamp_is_rejected(offset: float) -> None:
    """A correctly signed receipt whose timestamp is outside ±300 s of now is a 401."""
    with pytest.raises(SignatureRejectedError, match="outside the allowed window"):
        check({**DLR, "sig": DLR_SIGS["sha256"]}, secret=DLR_SECRET, method="sha256", now=DLR_NOW - offset)


@pytest.mark.parametrize("offset", [-300.0, 300.0])
def test_timestamp_at_the_window_edge_is_accepted(offset: float) -> None:
    """Exactly ±300 s from now is still inside the window."""
    check({**DLR, "sig": DLR_SIGS["sha256"]}, secret=DLR_SECRET, method="sha256", now=DLR_NOW - offset)


@pytest.mark.parametrize("timestamp", ["soon", "nan", "inf", ""])
def test_unparseable_timestamp_is_rejected(timestamp: str) -> None:
    """A timestamp that is not a finite number is a 401, before any hashing."""
    params = {**DLR, "timestamp": timestamp}
    params["sig"] = sign(params, DLR_SECRET, "sha256")
    with pytest.raises(SignatureRejectedError):
        check(params, secret=DLR_SECRET, method="sha256", now=DLR_NOW)


def test_rejection_reasons_never_contain_the_signature() -> None:
    """No rejection message echoes the sig value or the secret."""
    bad = {**DLR, "sig": "DEADBEEF" * 8}
    with pytest.raises(SignatureRejectedError) as caught:
        check(bad, secret=DLR_SECRET, method="sha256", now=DLR_NOW)
    assert "DEADBEEF" not in caught.value.reason
    assert DLR_SECRET not in caught.value.reason
