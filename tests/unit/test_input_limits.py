"""Length and character limits on what callers name things (issue 10, finding 10): idempotency
keys, client-refs and template parameter names are printable ASCII of bounded length, and a
template parameter can never be named like a field the provider or a receipt gives meaning to."""

from __future__ import annotations

import pytest

from worker.enqueue.request import SendRequest, validate_client_ref, validate_idempotency_key
from worker.errors import ValidationError

TO, PIN = "16365553226", "1234"


@pytest.mark.parametrize("key", ["", "k" * 129, "a\x00b", "line\nbreak", "tab\tkey", "del\x7f", "clé",
                                 "\u202eevil", 42])
def test_bad_idempotency_keys_are_refused(key: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_idempotency_key(key)
    assert info.value.field == "idempotency_key"


@pytest.mark.parametrize("key", [None, "order-77", "k" * 128, "a b:c/d=e_f.g~h"])
def test_good_idempotency_keys_pass(key: str | None) -> None:
    assert validate_idempotency_key(key) == key


@pytest.mark.parametrize("ref", ["del\x7f", "clé", "\u200blogin", "a\x1fb"])
def test_client_ref_must_be_printable_ascii(ref: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_client_ref(ref)
    assert info.value.field == "client_ref"


@pytest.mark.parametrize("name", ["callback", "timestamp", "api_secret", "api_key", "sig", "to", "pin",
                                  "client-ref", "Brand", "x" * 33, "", "a b", "a&b", "a=b", "é", "nonce\n"])
def test_bad_template_parameter_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        SendRequest.build(TO, PIN, params={name: "x"})
    assert info.value.field == "params"


@pytest.mark.parametrize("name", ["brand", "x" * 32, "code_len", "pin-len", "lg", "0"])
def test_good_template_parameter_names_pass(name: str) -> None:
    assert dict(SendRequest.build(TO, PIN, params={name: "x"}).params) == {name: "x"}
