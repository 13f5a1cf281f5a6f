"""The guard's number types (worker/enqueue/numbertype.py) against phonenumbers itself.

:func:`number_type` answers well-formed NANP numbers from its own compiled patterns (the fast
path) and everything else through phonenumbers; either way its answer must be phonenumbers'.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from worker.enqueue.numbertype import check_number_type, number_type
from worker.errors import NumberTypeRefusedError, ValidationError

# phonenumbers' own names for its types, independent of the module under test
NAMES = {getattr(PhoneNumberType, name): name.lower() for name in dir(PhoneNumberType)
         if name.isupper() and isinstance(getattr(PhoneNumberType, name), int)}
# area codes with a type of their own: premium rate, toll free, personal numbers (5XX), and a
# few ordinary ones of the US, Canada and the Caribbean
SPECIAL_NPAS = (900, 800, 833, 844, 855, 866, 877, 888, 500, 521, 522, 533, 544, 566, 577, 588)
ORDINARY_NPAS = (212, 415, 636, 604, 416, 514, 787, 876, 242, 441, 671, 684, 340, 649, 809)
DEFAULT_ALLOWED = ("mobile", "fixed_line_or_mobile")


def reference(e164: str) -> str:
    """phonenumbers' answer, lower case."""
    return NAMES[phonenumbers.number_type(phonenumbers.parse("+" + e164, None))]


def valid(e164: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse("+" + e164, None))
    except phonenumbers.NumberParseException:
        return False


def random_nanp(rng: random.Random, count: int) -> list[str]:
    """``count`` valid NANP numbers: half in the special and chosen area codes, half anywhere."""
    found: list[str] = []
    while len(found) < count:
        npa = rng.choice(SPECIAL_NPAS + ORDINARY_NPAS) if rng.random() < 0.5 else rng.randrange(200, 1000)
        number = f"1{npa:03d}{rng.randrange(200, 1000):03d}{rng.randrange(10_000):04d}"
        if valid(number):
            found.append(number)
    return found


def test_the_type_of_random_valid_nanp_numbers_is_phonenumbers() -> None:
    rng = random.Random(19)
    numbers = random_nanp(rng, 6000)
    wrong = [(n, number_type(n), reference(n)) for n in numbers if number_type(n) != reference(n)]
    assert wrong == []
    seen = {reference(n) for n in numbers}
    # the sample does reach the types the guard refuses, not only the ordinary ones
    assert {"premium_rate", "toll_free", "personal_number", "fixed_line_or_mobile", "mobile"} <= seen, seen


@pytest.mark.parametrize("npa", SPECIAL_NPAS)
def test_each_special_area_code_agrees(npa: int) -> None:
    rng = random.Random(npa)
    numbers = [n for n in (f"1{npa}{rng.randrange(200, 1000):03d}{rng.randrange(10_000):04d}"
                           for _ in range(300)) if valid(n)]
    assert numbers, f"no valid number drawn in {npa}"
    assert [(n, number_type(n)) for n in numbers] == [(n, reference(n)) for n in numbers]


@pytest.mark.parametrize(("e164", "expected"), [
    ("19005551234", "premium_rate"),
    ("18775551234", "toll_free"),
    ("18005550000", "toll_free"),
    ("15005551234", "personal_number"),
    ("16365553226", "fixed_line_or_mobile"),
    ("14165551234", "fixed_line_or_mobile"),  # Canada
    ("18765551234", "mobile"),  # Jamaica
    ("447400123456", "mobile"),
    ("449098790000", "premium_rate"),
    ("448001234567", "toll_free"),
    ("4930123456", "fixed_line"),
    ("33612345678", "mobile"),
    ("61412345678", "mobile"),
])
def test_known_numbers(e164: str, expected: str) -> None:
    assert number_type(e164) == reference(e164) == expected


def test_random_numbers_outside_nanp_agree() -> None:
    """Valid numbers of a few other plans (through phonenumbers' own path)."""
    rng = random.Random(7)
    stems = ("447", "4420", "4490", "44800", "4915", "4930", "336", "331", "3389", "614", "612",
             "9198", "8190", "5511")
    numbers: list[str] = []
    for _ in range(4000):
        stem = rng.choice(stems)
        number = stem + "".join(str(rng.randrange(10)) for _ in range(12 - len(stem)))
        if valid(number):
            numbers.append(number)
    assert len(numbers) > 200
    assert [(n, number_type(n)) for n in numbers] == [(n, reference(n)) for n in numbers]


def test_a_number_no_plan_knows_is_unknown() -> None:
    assert number_type("999123") == "unknown"
    assert number_type("1") == "unknown"


@pytest.mark.parametrize(("e164", "kind", "shown"), [
    ("19005551234", "premium_rate", "premium-rate"),
    ("18775551234", "toll_free", "toll-free"),
    ("15005551234", "personal_number", "personal-number"),
    ("4930123456", "fixed_line", "fixed-line"),
])
def test_check_number_type_refuses_naming_the_type(e164: str, kind: str, shown: str) -> None:
    with pytest.raises(NumberTypeRefusedError) as info:
        check_number_type(e164, DEFAULT_ALLOWED)
    error = info.value
    assert isinstance(error, ValidationError)
    assert error.number_type == kind and error.field == "to" and error.code == "number_type_refused"
    assert f"is a {shown} number" in str(error)
    assert "PINRELAY_NUMBER_TYPES" in str(error)
    assert "fixed_line_or_mobile, mobile numbers" in str(error)
    assert e164 not in str(error)  # masked, never the whole number
    assert error.for_item(3).field == "item 3 to" and error.for_item(3).number_type == kind


def test_check_number_type_passes_an_allowed_type() -> None:
    assert check_number_type("16365553226", DEFAULT_ALLOWED) == "fixed_line_or_mobile"
    assert check_number_type("447400123456", DEFAULT_ALLOWED) == "mobile"
    assert check_number_type("19005551234", ("premium_rate",)) == "premium_rate"
    with pytest.raises(NumberTypeRefusedError):
        check_number_type("16365553226", ("mobile",))
