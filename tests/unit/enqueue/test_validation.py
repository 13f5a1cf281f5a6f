"""Send requests are validated before anything is enqueued, with clear messages."""

from __future__ import annotations

import pytest

from worker.enqueue.request import SendRequest
from worker.errors import ValidationError
from worker.masking import mask_number


def test_valid_us_request_builds() -> None:
    """A US number and a 6-digit PIN make a request; the repr hides the PIN."""
    request = SendRequest.build("16365553226", "123456", "login-1", {"brand": "Acme"})
    assert request.to == "16365553226"
    assert "123456" not in repr(request)


@pytest.mark.parametrize(
    ("to", "fragment"),
    [
        ("++16365553226", "ASCII digits"),
        ("6365553226", "not a valid"),
        ("123", "7-15 ASCII digits"),
        ("\uff11\uff16\uff13\uff16\uff15\uff15\uff15\uff13\uff12\uff12\uff16", "ASCII digits"),
        ("\u0661\u0666\u0663\u0666\u0665\u0665\u0665\u0663\u0662\u0662\u0666", "ASCII digits"),
        ("+\u0661\u0666\u0663\u0666\u0665\u0665\u0665\u0663\u0662\u0662\u0666", "ASCII digits"),
        ("0016365553226", "00"),
        ("447400123456", "allowed regions"),
        ("1636555322a", "digits"),
        (16365553226, "string"),
    ],
)
def test_bad_numbers_are_refused(to: object, fragment: str) -> None:
    """Numbers without country code, foreign, malformed or in non-ASCII digits are refused."""
    with pytest.raises(ValidationError) as info:
        SendRequest.build(to, "1234")
    assert info.value.field == "to"
    assert fragment in str(info.value)


def test_other_regions_can_be_allowed() -> None:
    """The region list is configurable."""
    assert SendRequest.build("447400123456", "1234", regions=("GB",)).to == "447400123456"


def test_e164_with_plus_is_accepted_and_stored_without_it() -> None:
    """``+14155550100`` is the same number as ``14155550100``: accepted, kept without the '+'."""
    assert SendRequest.build("+14155550100", "1234").to == "14155550100"


def test_ten_digit_nanp_number_gets_a_country_code_hint() -> None:
    """A US number typed without its leading 1 is refused with the likely fix."""
    with pytest.raises(ValidationError, match=r"did you mean 1636555\*\*\*\*"):
        SendRequest.build("6365553226", "1234")


@pytest.mark.parametrize("pin", ["123", "12345678901", "12a4", "", 1234, None,
                                 "\u0664\u0668\u0662\u0669\u0661\u0663", "\uff14\uff18\uff12\uff19"])
def test_bad_pins_are_refused(pin: object) -> None:
    """A PIN is a string of 4-10 ASCII digits (Arabic-Indic and fullwidth digits are not)."""
    with pytest.raises(ValidationError) as info:
        SendRequest.build("16365553226", pin)
    assert info.value.field == "pin"


def test_pin_error_never_shows_the_pin() -> None:
    """The message says what is wrong without repeating the PIN."""
    with pytest.raises(ValidationError) as info:
        SendRequest.build("16365553226", "12345678901")
    assert "12345678901" not in str(info.value)


def test_client_ref_over_40_chars_is_refused() -> None:
    """The provider allows 40 characters of client-ref."""
    with pytest.raises(ValidationError):
        SendRequest.build("16365553226", "1234", "x" * 41)
    assert SendRequest.build("16365553226", "1234", "x" * 40).client_ref == "x" * 40


def test_reserved_template_params_are_refused() -> None:
    """Template params cannot override api_secret, to or pin."""
    with pytest.raises(ValidationError):
        SendRequest.build("16365553226", "1234", params={"api_secret": "x"})


def test_mask_number_hides_last_four() -> None:
    assert mask_number("16365553226") == "1636555****"
