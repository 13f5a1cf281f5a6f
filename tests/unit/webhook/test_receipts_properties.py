"""Property tests for receipt parsing: round trips, and no exception but ReceiptError."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from webhook.errors import ReceiptError
from webhook.receipts import MAX_PARAMS, check_signature, parse_body, parse_json, parse_params
from worker.signing import METHODS, sign

# Any text that UTF-8 can carry (no lone surrogates).
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20)
field_dicts = st.dictionaries(names, text, max_size=MAX_PARAMS)
# Names a signed receipt may carry: '&' and '=' would splice fields in the signed string.
signable_dicts = st.dictionaries(names.filter(lambda n: "&" not in n and "=" not in n), text,
                                 max_size=MAX_PARAMS)
no_database = settings(database=None)  # nothing written into the working tree


@no_database
@given(field_dicts)
def test_form_body_round_trips(fields: dict[str, str]) -> None:
    """Any field dict, form-encoded, parses back to itself."""
    assert parse_body(urlencode(fields).encode(), "application/x-www-form-urlencoded") == fields


@no_database
@given(field_dicts)
def test_query_string_round_trips(fields: dict[str, str]) -> None:
    """Any field dict, as a percent-encoded query string, parses back to itself."""
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields.items())
    assert parse_params(query) == fields


@no_database
@given(field_dicts)
def test_json_body_round_trips(fields: dict[str, str]) -> None:
    """Any field dict, as a JSON object, parses back to itself."""
    assert parse_json(json.dumps(fields).encode()) == fields


@no_database
@given(st.dictionaries(names, st.integers() | st.floats(allow_nan=False, allow_infinity=False)))
def test_json_numbers_become_their_json_text(numbers: dict[str, float]) -> None:
    """Every JSON number arrives as the exact text it had in the body."""
    body = json.dumps(numbers).encode()
    assert parse_json(body) == {k: json.dumps(v) for k, v in numbers.items()}


@no_database
@given(
    st.binary(max_size=300),
    st.sampled_from(
        [
            None,
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "application/json; charset=utf-16",
            "",
        ]
    ),
)
def test_any_body_parses_or_raises_a_receipt_error(body: bytes, content_type: str | None) -> None:
    """Arbitrary bytes under any content type give string params or a ReceiptError."""
    try:
        params = parse_body(body, content_type)
    except ReceiptError as exc:
        assert exc.http_status in (400, 415)
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())


@no_database
@given(st.text(max_size=200))
def test_any_query_string_parses_or_raises_a_receipt_error(query: str) -> None:
    """Arbitrary QUERY_STRING text gives string params or a 400."""
    try:
        params = parse_params(query)
    except ReceiptError as exc:
        assert exc.http_status == 400
    else:
        assert all(isinstance(v, str) for v in params.values())


@no_database
@given(signable_dicts, st.sampled_from(METHODS), st.text(min_size=4, max_size=40))
def test_signed_fields_verify_after_a_form_round_trip(
    fields: dict[str, str], method: str, secret: str
) -> None:
    """Fields signed by the simulator's sign() verify after travelling as a form."""
    fields = {k: v for k, v in fields.items() if k not in ("sig", "timestamp")}
    fields["timestamp"] = "1700000000"
    fields["sig"] = sign(fields, secret, method)
    received = parse_body(urlencode(fields).encode(), None)
    check_signature(received, secret=secret, method=method, window_s=300, now=1700000000.0)
