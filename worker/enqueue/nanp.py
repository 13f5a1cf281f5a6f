"""A fast path for the commonest number: a well-formed NANP number, ``1`` + NXX + NXX + XXXX.

:func:`worker.enqueue.request.validate_number` spent ~50 us per number in phonenumbers
(``parse``, ``is_valid_number``, ``region_code_for_number``, ``format_number``), about 40 %
of a bulk enqueue's CPU. For ``1`` followed by a national number ``[2-9]XX[2-9]XXXXXX`` those
calls reduce to a few regular expressions from phonenumbers' own metadata, so this module
runs exactly those, in phonenumbers' order:

* ``parse("+1" + national)`` gives country code 1 and that national number unchanged (the
  national prefix ``1`` cannot match a number starting 2-9), and ``format_number(..., E164)``
  is then ``"+1" + national``;
* ``region_code_for_number`` walks the regions of country code 1 in phonenumbers' order: the
  first whose ``leading_digits`` match the start of the number, or (a region without
  ``leading_digits``) whose number-type check finds any type;
* ``is_valid_number`` is that region's number-type check (no region: invalid).

A number-type check is "the general description matches, and one of the type descriptions
(premium rate ... voicemail, fixed line, mobile unless it shares fixed line's pattern) does",
each description counting only if its possible lengths allow 10 digits. The tables are built
from whatever phonenumbers is installed, on first use; tests/unit/enqueue/test_nanp.py checks
the answers against phonenumbers itself over many valid and invalid numbers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Final

import phonenumbers
from phonenumbers import PhoneMetadata

COUNTRY_CODE: Final = 1
NATIONAL_LENGTH: Final = 10
# "1" + NPA (first digit 2-9) + NXX (first digit 2-9) + 4 digits, ASCII only
WELL_FORMED: Final = re.compile(r"1[2-9][0-9]{2}[2-9][0-9]{6}", re.ASCII)

# phonenumbers' _number_type_helper checks these in this order; fixed line, then mobile last
_TYPES: Final = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
                 "uan", "voicemail", "fixed_line")


# what an alternation of patterns would change the meaning of: backreferences and named groups
_UNJOINABLE: Final = re.compile(r"\\[1-9]|\(\?P[<=]|\(\?<[A-Za-z_]")


@dataclass(frozen=True, slots=True)
class _Region:
    code: str
    leading: re.Pattern[str] | None  # phonenumbers' leading_digits, matched at the start
    general: re.Pattern[str] | None  # None: the general description cannot match 10 digits
    types: re.Pattern[str] | None  # any type description that can match 10 digits

    def has_type(self, national: str) -> bool:
        """``_number_type_helper(national, metadata) != UNKNOWN`` for a 10-digit ``national``."""
        return (self.general is not None and self.types is not None
                and self.general.fullmatch(national) is not None
                and self.types.fullmatch(national) is not None)


def _pattern(desc: Any) -> str | None:
    """A description's pattern if it can match a 10-digit national number (else None)."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = desc.possible_length
    if lengths and NATIONAL_LENGTH not in lengths:
        return None
    return str(desc.national_number_pattern)


def _union(patterns: list[str]) -> re.Pattern[str] | None:
    """One pattern that fully matches where any of ``patterns`` fully matches."""
    if not patterns:
        return None
    if any(_UNJOINABLE.search(p) for p in patterns):
        raise ValueError("a NANP pattern cannot be joined into one; phonenumbers metadata changed")
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def _region(code: str) -> _Region:
    md = PhoneMetadata.metadata_for_region(code, None)
    if md is None or md.country_code != COUNTRY_CODE:
        raise ValueError(f"region {code} is not a NANP region in this phonenumbers")
    types = [p for p in (_pattern(getattr(md, name)) for name in _TYPES) if p]
    if not md.same_mobile_and_fixed_line_pattern:
        mobile = _pattern(md.mobile)
        if mobile:
            types.append(mobile)
    general = _pattern(md.general_desc)
    return _Region(code, re.compile(md.leading_digits) if md.leading_digits is not None else None,
                   re.compile(general) if general else None, _union(types))


@functools.cache
def _regions() -> tuple[_Region, ...] | None:
    """The regions of country code 1, in the order phonenumbers tries them; None if this
    phonenumbers' metadata does not fit the tables (then every number takes phonenumbers)."""
    try:
        return tuple(_region(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[COUNTRY_CODE])
    except (ValueError, KeyError, AttributeError, re.error):
        return None


def classify(digits: str) -> tuple[bool, str | None] | None:
    """``(is_valid_number, region_code_for_number)`` of ``+<digits>`` as phonenumbers answers
    them, for well-formed NANP digits (ASCII ``1NXXNXXXXXX``, whose E.164 form is
    ``+<digits>``); None for any other input, which phonenumbers must answer."""
    regions = _regions()
    if regions is None or WELL_FORMED.fullmatch(digits) is None:
        return None
    national = digits[1:]
    for region in regions:
        if region.leading is not None:
            if region.leading.match(national):
                return region.has_type(national), region.code
        elif region.has_type(national):
            return True, region.code
    return False, None
