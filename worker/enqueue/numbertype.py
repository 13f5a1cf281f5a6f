"""The phonenumbers number type of a valid number, and the guard's rule on it (``PINRELAY_NUMBER_TYPES``).

SMS pumping favours numbers whose carriers pay per message received: premium-rate, toll-free,
shared-cost and the like. A PIN only makes sense on a phone that reads SMS, so by default only
``mobile`` and ``fixed_line_or_mobile`` (what phonenumbers answers for most US and Canadian
numbers, whose plans do not tell the two apart) are allowed.

``phonenumbers.number_type`` costs ~30 us per number; for the commonest number, a well-formed
NANP one whose region :func:`worker.enqueue.nanp.classify` already found, this module runs the
same type checks (phonenumbers' ``_number_type_helper``, in its order) on regular expressions
compiled once per region. tests/unit/enqueue/test_numbertype.py checks the answers against
phonenumbers itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from typing import Any, Final

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

from worker.enqueue import nanp
from worker.errors import NumberTypeRefusedError
from worker.masking import mask_number

# phonenumbers' own order of the special types, each checked before fixed line and mobile
_SPECIAL: Final = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
                   "uan", "voicemail")
_NAMES: Final = {getattr(PhoneNumberType, name.upper()): name for name in
                 (*_SPECIAL, "fixed_line", "mobile", "fixed_line_or_mobile", "unknown")}


def _desc(desc: Any) -> re.Pattern[str] | None:
    """A description's pattern if it can match a 10-digit national number (else None)."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = desc.possible_length
    if lengths and nanp.NATIONAL_LENGTH not in lengths:
        return None
    return re.compile(desc.national_number_pattern)


@functools.cache
def _nanp_checks(region: str) -> tuple[tuple[tuple[str, re.Pattern[str]], ...], re.Pattern[str] | None,
                                       re.Pattern[str] | None, bool] | None:
    md = PhoneMetadata.metadata_for_region(region, None)
    if md is None:
        return None
    special = tuple((name, p) for name, p in ((n, _desc(getattr(md, n))) for n in _SPECIAL) if p)
    return special, _desc(md.fixed_line), _desc(md.mobile), bool(md.same_mobile_and_fixed_line_pattern)


def _fast(digits: str, region: str | None = None) -> str | None:
    """The type of a well-formed, valid NANP number as phonenumbers names it; None if unsure.
    ``region``: the number's region when the caller has validated it already (one lookup less)."""
    if region is None or nanp.WELL_FORMED.fullmatch(digits) is None:
        known = nanp.classify(digits)
        if known is None or not known[0] or known[1] is None:
            return None
        region = known[1]
    checks = _nanp_checks(region)
    if checks is None:
        return None
    special, fixed, mobile, same = checks
    national = digits[1:]
    for name, pattern in special:
        if pattern.fullmatch(national):
            return name
    if fixed is not None and fixed.fullmatch(national):
        if same or (mobile is not None and mobile.fullmatch(national)):
            return "fixed_line_or_mobile"
        return "fixed_line"
    if not same and mobile is not None and mobile.fullmatch(national):
        return "mobile"
    return "unknown"


def number_type(e164: str, region: str | None = None) -> str:
    """``mobile``, ``toll_free``, ... (phonenumbers' type, lower case) of E.164 digits without ``+``
    (``region``: its region, if the number was validated already)."""
    fast = _fast(e164, region)
    if fast is not None:
        return fast
    try:
        parsed = phonenumbers.parse("+" + e164, None)
    except phonenumbers.NumberParseException:
        return "unknown"
    return _NAMES.get(phonenumbers.number_type(parsed), "unknown")


def check_number_type(e164: str, allowed: Collection[str], region: str | None = None) -> str:
    """The number's type if ``allowed`` lists it; else :class:`NumberTypeRefusedError`."""
    kind = number_type(e164, region)
    if kind not in allowed:
        raise NumberTypeRefusedError(
            "to", f"{mask_number(e164)!r} is a {kind.replace('_', '-')} number; PINs go only to "
            f"{', '.join(sorted(allowed))} numbers (PINRELAY_NUMBER_TYPES)", number_type=kind)
    return kind
