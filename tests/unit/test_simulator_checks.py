"""The simulator's 2FA param checks, one refusal per rule, in the documented order."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pinrelay_ops.simulator import SimConfig
from pinrelay_ops.simulator.vonage.checks import check_submission, unknown_params
from worker.signing import sign

CONFIG = SimConfig(barred=frozenset({"15550000007"}), opted_out=frozenset({"15550000102"}))
GOOD = {"api_key": "demo-key", "api_secret": "demo-secret-0123", "to": "16365553226", "pin": "1234"}


def status_of(params: dict[str, str], config: SimConfig = CONFIG) -> str | None:
    refusal = check_submission(params, config)
    return None if refusal is None else refusal.status


def test_good_submission_is_accepted() -> None:
    """Key, secret, a valid number and a numeric PIN pass every check."""
    assert check_submission(GOOD, CONFIG) is None


@pytest.mark.parametrize("missing", ["api_key", "api_secret", "to", "pin"])
def test_missing_required_param_is_status_2(missing: str) -> None:
    """Each required param, missing or empty, gives status 2 naming it."""
    params = {k: v for k, v in GOOD.items() if k != missing}
    refusal = check_submission(params, CONFIG)
    assert refusal is not None and refusal.status == "2"
    assert refusal.text == f"Missing {missing} param"
    assert status_of(dict(GOOD, **{missing: ""})) == "2"


@pytest.mark.parametrize("field", ["api_key", "api_secret"])
def test_wrong_credentials_are_status_4(field: str) -> None:
    """A wrong key or secret gives status 4."""
    assert status_of(dict(GOOD, **{field: "nope-nope"})) == "4"


def test_sig_together_with_secret_is_status_32() -> None:
    """Sending both sig and api_secret is refused with 32."""
    assert status_of(dict(GOOD, sig="abc", timestamp="1")) == "32"


def test_valid_signature_replaces_the_secret() -> None:
    """With a signature secret set, a correct sig (and no api_secret) is accepted."""
    config = SimConfig(signature_secret="sig-secret", signature_method="sha256")
    params = {k: v for k, v in GOOD.items() if k != "api_secret"}
    params["timestamp"] = str(int(time.time()))
    params["sig"] = sign(params, "sig-secret", "sha256")
    assert status_of(params, config) is None
    assert status_of(dict(params, pin="9999"), config) == "14"


@pytest.mark.parametrize("to", ["123456", "1234567890123456", "+16365553226", "1636-555", "١٢٣٤٥٦٧٨"])
def test_to_outside_7_to_15_ascii_digits_is_status_3(to: str) -> None:
    """to must be 7-15 ASCII digits, no plus sign."""
    refusal = check_submission(dict(GOOD, to=to), CONFIG)
    assert refusal is not None and refusal.status == "3" and refusal.text == "Invalid to param"


@pytest.mark.parametrize("pin", ["12a4", "12 34", "-123", "1.5", "١٢٣٤"])
def test_non_digit_pin_is_status_3(pin: str) -> None:
    """The PIN must be ASCII digits only."""
    assert status_of(dict(GOOD, pin=pin)) == "3"


def test_client_ref_over_40_chars_is_status_3() -> None:
    """client-ref may be 40 characters, not 41."""
    assert status_of(dict(GOOD, **{"client-ref": "x" * 40})) is None
    assert status_of(dict(GOOD, **{"client-ref": "x" * 41})) == "3"


def test_barred_and_opted_out_numbers() -> None:
    """Configured numbers get 7 (barred) and 102 (opted out)."""
    assert status_of(dict(GOOD, to="15550000007")) == "7"
    assert status_of(dict(GOOD, to="15550000102")) == "102"


def test_credentials_are_checked_before_the_number() -> None:
    """A bad secret with a bad number reports the credentials (4) first."""
    assert status_of(dict(GOOD, api_secret="wrong-secret", to="12")) == "4"


def test_unknown_params_are_listed_not_refused() -> None:
    """Template placeholders pass the checks and are reported as unknown."""
    params = dict(GOOD, brand="Acme", template="1")
    assert check_submission(params, CONFIG) is None
    assert unknown_params(params) == ["brand", "template"]


@given(
    to=st.from_regex(r"\A[0-9]{7,15}\Z"),
    pin=st.from_regex(r"\A[0-9]{1,12}\Z"),
)
def test_any_digit_number_and_pin_are_accepted(to: str, pin: str) -> None:
    """Every 7-15 digit number with any digit PIN passes (unless barred or opted out)."""
    if to in CONFIG.barred or to in CONFIG.opted_out:
        return
    assert check_submission(dict(GOOD, to=to, pin=pin), CONFIG) is None


@given(pin=st.text(min_size=1).filter(lambda p: not (p.isascii() and p.isdigit())))
def test_any_non_digit_pin_is_refused(pin: str) -> None:
    """Any PIN with a non-ASCII-digit character is status 3."""
    assert status_of(dict(GOOD, pin=pin)) == "3"
