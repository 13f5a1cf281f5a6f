"""Verification codes: CSPRNG digits of every allowed length, keyed hashes bound to id and number."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.config.rules import verify_key
from worker.errors import ConfigError, ValidationError
from worker.verify import codes

KEY = b"k" * 32
HEX_ID = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
NUMBER = st.text(alphabet=codes.DIGITS, min_size=8, max_size=15)
CODE = st.text(alphabet=codes.DIGITS, min_size=6, max_size=10)
# chi-square with 9 degrees of freedom exceeds 60 with probability < 1e-9: a failure is a bias.
CHI2_BOUND = 60.0


def _chi2(counts: Counter[str], total: int) -> float:
    expected = total / 10
    return sum((counts.get(d, 0) - expected) ** 2 / expected for d in codes.DIGITS)


@given(st.integers(min_value=6, max_value=10))
def test_every_allowed_length_gives_that_many_ascii_digits(length: int) -> None:
    """A code of any length 6-10 is exactly that many characters, each one of 0-9."""
    code = codes.generate_code(length)
    assert len(code) == length and all(ch in codes.DIGITS for ch in code)


@given(st.integers().filter(lambda n: not 6 <= n <= 10))
def test_any_other_length_is_refused(length: int) -> None:
    """Shorter than 6 (NIST's minimum) or longer than 10 digits is a ValidationError naming the length."""
    with pytest.raises(ValidationError, match="length"):
        codes.generate_code(length)


@pytest.mark.parametrize("length", [6, 7, 8, 9, 10])
def test_digits_are_uniform_overall_and_in_every_position(length: int) -> None:
    """Over 3000 codes, each digit is as likely as any other, overall and in each position (chi-square)."""
    draws = [codes.generate_code(length) for _ in range(3000)]
    overall = Counter("".join(draws))
    assert _chi2(overall, 3000 * length) < CHI2_BOUND, overall
    for position in range(length):
        column = Counter(code[position] for code in draws)
        assert _chi2(column, 3000) < CHI2_BOUND, (position, column)


def test_leading_zeros_are_kept() -> None:
    """About one code in ten starts with 0, and it keeps its full length (a string, not a number)."""
    draws = [codes.generate_code(6) for _ in range(2000)]
    leading = [code for code in draws if code.startswith("0")]
    assert 100 <= len(leading) <= 320  # 200 expected; far outside this only with a bias
    assert all(len(code) == 6 for code in leading)


@given(HEX_ID, NUMBER, CODE)
def test_hmac_is_hmac_sha256_of_the_bound_message(vid: str, to: str, code: str) -> None:
    """The stored form is hex HMAC-SHA256 over a domain tag, the id, the number and the code."""
    digest = codes.code_hmac(KEY, vid, to, code)
    message = b"\0".join((b"pinrelay-verify-v1", vid.encode(), to.encode(), code.encode()))
    assert digest == hmac.new(KEY, message, hashlib.sha256).hexdigest()


@given(HEX_ID, HEX_ID, NUMBER, NUMBER, CODE, CODE)
@settings(max_examples=300)
def test_a_code_matches_only_its_own_verification_and_number(
    vid: str, other_vid: str, to: str, other_to: str, code: str, other_code: str
) -> None:
    """Same (id, number, code): same HMAC; change any one of them and it no longer matches."""
    digest = codes.code_hmac(KEY, vid, to, code)
    assert codes.hmacs_match(codes.code_hmac(KEY, vid, to, code), digest)
    if other_vid != vid:
        assert not codes.hmacs_match(codes.code_hmac(KEY, other_vid, to, code), digest)
    if other_to != to:
        assert not codes.hmacs_match(codes.code_hmac(KEY, vid, other_to, code), digest)
    if other_code != code:
        assert not codes.hmacs_match(codes.code_hmac(KEY, vid, to, other_code), digest)
    assert not codes.hmacs_match(codes.code_hmac(b"x" * 32, vid, to, code), digest)


def test_leading_zero_is_part_of_the_code() -> None:
    """``012345`` and ``12345`` are different codes."""
    vid, to = "a" * 32, "16365553226"
    assert codes.code_hmac(KEY, vid, to, "012345") != codes.code_hmac(KEY, vid, to, "12345")


@given(st.text(alphabet="0123456789abcdef", max_size=64), st.text(alphabet="0123456789abcdef", max_size=64))
def test_comparison_is_equality(a: str, b: str) -> None:
    """hmacs_match is exactly string equality (done by hmac.compare_digest)."""
    assert codes.hmacs_match(a, b) == (a == b)


@given(st.one_of(st.text(max_size=40), st.binary(max_size=12), st.integers(), st.none()))
def test_input_is_bounded_and_ascii_digits_only(typed: object) -> None:
    """Only a str of 1-10 ASCII digits passes; longer input, other scripts' digits, non-str: None."""
    ok = isinstance(typed, str) and 0 < len(typed) <= 10 and all(ch in "0123456789" for ch in typed)
    assert codes.normalize_input(typed) == (typed if ok else None)


LOOKALIKES = [
    "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
    "12345\uff16",  # a full-width six
    "\u00b2\u00b3\u2074\u2075\u2076\u2077",  # superscripts
    " 123456",
    "123456\n",
    "12345678901",
]


@pytest.mark.parametrize("typed", LOOKALIKES)
def test_lookalike_digits_and_padding_are_refused(typed: str) -> None:
    """Arabic-Indic, full-width and superscript digits (str.isdigit says yes), spaces, 11 digits: refused."""
    assert codes.normalize_input(typed) is None


@pytest.mark.parametrize("secret", [None, "", "short", "x" * 31])
def test_a_missing_or_short_secret_is_refused(secret: str | None) -> None:
    """No key, or one under 32 characters, is a ConfigError naming PINRELAY_VERIFY_SECRET."""
    with pytest.raises(ConfigError, match="PINRELAY_VERIFY_SECRET"):
        verify_key(secret)
    assert verify_key("x" * 32) == b"x" * 32
