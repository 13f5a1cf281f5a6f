"""Property tests of the receipt signature check: a signature vouches for exactly one receipt.

tests/unit covers round trips of parsing and known vectors; these add the adversary's
view: whatever is changed in a signed receipt (a value, a name, a field added or
dropped, two fields run together), the check refuses it, and no input at all makes it
raise anything but :class:`SignatureRejectedError`.
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from webhook.errors import SignatureRejectedError
from webhook.receipts import check_signature
from worker.signing import METHODS, sign

NOW = 1_700_000_000.0
WINDOW_S = 300
no_database = settings(database=None, max_examples=300)

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
# Field names as a signed receipt may carry them: '&' and '=' in a name are refused outright
# (test_two_fields_run_together_are_rejected), so the other properties use names without them.
names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=15).filter(
    lambda n: n not in ("sig", "timestamp") and "&" not in n and "=" not in n
)
receipts = st.dictionaries(names, text, min_size=1, max_size=12)
secrets = st.text(st.characters(exclude_categories=["Cs"]), min_size=4, max_size=30)


def signed(fields: dict[str, str], secret: str, method: str, at: float = NOW) -> dict[str, str]:
    params = {**fields, "timestamp": str(int(at))}
    params["sig"] = sign(params, secret, method)
    return params


def accepted(params: dict[str, str], secret: str, method: str, now: float = NOW) -> bool:
    try:
        check_signature(params, secret=secret, method=method, window_s=WINDOW_S, now=now)
    except SignatureRejectedError:
        return False
    return True


def _normal(value: str) -> str:
    """What the signing string keeps of a value (the provider's '&'/'=' -> '_' quirk)."""
    return value.replace("&", "_").replace("=", "_")


@no_database
@given(receipts, st.sampled_from(METHODS), secrets, st.data())
def test_changed_value_is_rejected(
    fields: dict[str, str], method: str, secret: str, data: st.DataObject
) -> None:
    """Changing any one value (beyond the '&'/'=' -> '_' folding) breaks the signature."""
    params = signed(fields, secret, method)
    name = data.draw(st.sampled_from(sorted(params)))
    new = data.draw(text)
    assume(name != "sig" and _normal(new) != _normal(params[name]))
    params[name] = new
    assert not accepted(params, secret, method)


@no_database
@given(receipts, st.sampled_from(METHODS), secrets, names, text)
def test_added_field_is_rejected(
    fields: dict[str, str], method: str, secret: str, name: str, value: str
) -> None:
    """A field the provider did not sign makes the receipt fail."""
    params = signed(fields, secret, method)
    assume(name not in params)
    assert not accepted({**params, name: value}, secret, method)


@no_database
@given(receipts, st.sampled_from(METHODS), secrets, st.data())
def test_dropped_or_renamed_field_is_rejected(
    fields: dict[str, str], method: str, secret: str, data: st.DataObject
) -> None:
    """Dropping a signed field, or giving it another name, makes the receipt fail."""
    params = signed(fields, secret, method)
    name = data.draw(st.sampled_from(sorted(fields)))
    value = params.pop(name)
    assert not accepted(params, secret, method)
    other = data.draw(names)
    assume(other not in params and other != name)
    assert not accepted({**params, other: value}, secret, method)


@no_database
@given(receipts, st.sampled_from(METHODS), secrets, secrets)
def test_other_secret_or_method_is_rejected(
    fields: dict[str, str], method: str, secret: str, other: str
) -> None:
    """A receipt signed with another secret, or checked with another method, fails."""
    params = signed(fields, secret, method)
    assert accepted(params, secret, method)
    if other != secret:
        assert not accepted(params, other, method)
    for second in METHODS:
        if second != method:
            assert not accepted(params, secret, second)


@no_database
@given(receipts, st.sampled_from(METHODS), secrets, st.integers(-2 * WINDOW_S, 2 * WINDOW_S))
def test_timestamp_is_accepted_exactly_within_the_window(
    fields: dict[str, str], method: str, secret: str, offset: int
) -> None:
    """A correct signature passes if and only if its timestamp is within ±window of now."""
    params = signed(fields, secret, method)
    assert accepted(params, secret, method, now=NOW + offset) == (abs(offset) <= WINDOW_S)


@no_database
@given(st.dictionaries(text, text, max_size=10), st.sampled_from(METHODS), secrets)
def test_any_params_are_rejected_cleanly(params: dict[str, str], method: str, secret: str) -> None:
    """Arbitrary params, sig and timestamp included, give a SignatureRejectedError and no other
    exception (a forged receipt never passes by accident)."""
    assert not accepted(params, secret, method)


@no_database
@given(receipts, st.sampled_from(METHODS), secrets, st.data())
def test_two_fields_run_together_are_rejected(
    fields: dict[str, str], method: str, secret: str, data: st.DataObject
) -> None:
    """Merging two neighbouring signed fields into one name (``{"a": "1", "b": "2"}`` ->
    ``{"a=1&b": "2"}``, the same signing string) must not verify: it would let anyone strip
    a field such as ``nonce`` from a captured receipt and replay it."""
    params = signed({**fields, "nonce": "0f1e2d3c"}, secret, method)
    order = sorted(k for k in params if k != "sig")
    i = data.draw(st.integers(0, len(order) - 2))
    first, second = order[i], order[i + 1]
    joined = f"{first}={_normal(params[first])}&{second}"
    merged = {k: v for k, v in params.items() if k not in (first, second)}
    merged[joined] = params[second]
    assume(sorted(k for k in merged if k != "sig").index(joined) == i)  # same signing string
    assert not accepted(merged, secret, method)
