"""The NANP fast path of validate_number gives exactly what phonenumbers gives.

The reference below is validate_number as it was before the fast path: phonenumbers for
every number. Numbers, valid and invalid, in and out of the fast path's shape, must get the
same E.164 digits or the same ValidationError message from both.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker import constants as c
from worker.enqueue import nanp
from worker.enqueue.request import _DIGITS, _nanp_hint, validate_number
from worker.errors import ValidationError
from worker.masking import mask_number

NANP_REGIONS = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]


def reference(to: str, regions: tuple[str, ...] = c.DEFAULT_PHONE_REGIONS) -> str:
    """validate_number without the fast path (phonenumbers only)."""
    digits = to.removeprefix("+")
    if not _DIGITS.fullmatch(digits) or not 7 <= len(digits) <= 15:
        raise ValidationError("to", f"{mask_number(to)!r} must be 7-15 ASCII digits 0-9 with the "
                              "country code (an optional leading '+')")
    if digits.startswith("00"):
        raise ValidationError("to", f"{mask_number(to)!r} must not start with 00")
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("to", f"{mask_number(to)!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError("to", f"{mask_number(to)!r} is not a valid phone number{_nanp_hint(digits)}")
    region = phonenumbers.region_code_for_number(parsed)
    if region not in regions:
        raise ValidationError("to", f"{mask_number(to)!r} is in {region}; allowed regions: "
                              f"{', '.join(regions)}{_nanp_hint(digits)}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")


def outcome(check: object, to: str, regions: tuple[str, ...]) -> str:
    try:
        return "ok " + check(to, regions)  # type: ignore[operator]
    except ValidationError as exc:
        return "refused " + str(exc)


def phonenumbers_answer(digits: str) -> tuple[bool, str | None]:
    parsed = phonenumbers.parse("+" + digits, None)
    assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == "+" + digits
    return phonenumbers.is_valid_number(parsed), phonenumbers.region_code_for_number(parsed)


DIGIT = st.sampled_from("0123456789")
WELL_FORMED = st.builds(lambda npa, nxx, line: f"1{npa}{nxx}{line:04d}", st.integers(200, 999),
                        st.integers(200, 999), st.integers(0, 9999))
ANY_NANP = st.builds(lambda rest: "1" + rest, st.text(DIGIT, min_size=10, max_size=10))
OTHER = st.text(DIGIT, min_size=6, max_size=16)
NUMBERS = st.one_of(WELL_FORMED, WELL_FORMED, ANY_NANP, OTHER, st.builds(lambda d: d[1:], WELL_FORMED))
REGIONS = st.sampled_from([c.DEFAULT_PHONE_REGIONS, ("US",), ("CA", "JM", "PR"), ("GB",)])


@settings(max_examples=3000, derandomize=True, deadline=None)
@given(NUMBERS, st.booleans(), REGIONS)
def test_validate_number_answers_as_phonenumbers_does(digits: str, plus: bool,
                                                       regions: tuple[str, ...]) -> None:
    """Same E.164 digits, or the same refusal word for word, over valid and invalid numbers."""
    to = ("+" if plus else "") + digits
    assert outcome(validate_number, to, regions) == outcome(reference, to, regions)


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(WELL_FORMED)
def test_classify_is_phonenumbers_validity_and_region(digits: str) -> None:
    assert nanp.classify(digits) == phonenumbers_answer(digits)


def test_every_area_code() -> None:
    """Every NPA 200-999, with a few exchanges and line numbers (5,600 numbers)."""
    for npa in range(200, 1000):
        for rest in ("2000000", "2125550", "5550123", "5551234", "9999999", "8675309", "3456789"):
            digits = f"1{npa}{rest}"
            assert nanp.classify(digits) == phonenumbers_answer(digits), digits


@pytest.mark.parametrize("region", NANP_REGIONS)
def test_each_regions_example_numbers_are_valid_there(region: str) -> None:
    """phonenumbers' own example numbers, of every type, for each NANP region (a toll-free one
    may be the US's: phonenumbers says so too)."""
    for kind in phonenumbers.PhoneNumberType.values():
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        digits = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[1:]
        if nanp.WELL_FORMED.fullmatch(digits):
            assert nanp.classify(digits) == phonenumbers_answer(digits), (kind, digits)
            assert phonenumbers_answer(digits)[0], (kind, digits)


@pytest.mark.parametrize("digits", ["6365553226", "16365553226x", "1636555322", "163655532260",
                                    "10365553226", "16361553226", "\uff11" + "6365553226", "446365553226",
                                    "1" + "\u0666" * 10])
def test_other_shapes_are_left_to_phonenumbers(digits: str) -> None:
    """Not ASCII 1NXXNXXXXXX: no answer from the fast path."""
    assert nanp.classify(digits) is None


def test_a_number_of_another_nanp_region_is_refused_by_name() -> None:
    """Jamaica (+1 876) shares the US country code: the region decides, with phonenumbers' words."""
    with pytest.raises(ValidationError, match=r"is in JM; allowed regions: US, CA$"):
        validate_number("18765550123")
    assert validate_number("18765550123", ("JM",)) == "18765550123"
