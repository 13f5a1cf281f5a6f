"""How many SMS a text takes (docs/provider-routes.md §A.3, D.3): GSM-7 septets or UCS-2 code units.

GSM-7 holds 160 septets in one SMS and 153 per part of a longer one; the
extension-table characters (``^ { } [ ] ~ \\ | €`` and form feed) take two.
UCS-2 holds 70 UTF-16 code units in one SMS, 67 per part; an emoji takes two.
The exact split points of a real provider are uncertain (the docs contradict
themselves); these are the usual ones, which is what a test needs.

``encoding=None`` picks GSM-7 when every character fits and UCS-2 otherwise, as
Twilio does; the Vonage SMS API is told by ``type`` (``unicode`` is UCS-2 for
every character, ``text`` is GSM-7 and a character outside it counts as one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from .errors import SimulatorError

GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"
#: the GSM 03.38 basic table (escape excluded)
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: reached through the escape, so two septets each
GSM7_EXTENSION: Final = frozenset("^{}\\[~]|€\f")
_LIMITS: Final = {GSM7: (160, 153), UCS2: (70, 67)}  # (one SMS, per part)


@dataclass(frozen=True, slots=True)
class Segments:
    """``units`` are septets (GSM-7) or UTF-16 code units (UCS-2); ``count`` is the SMS parts."""

    encoding: str
    units: int
    count: int


def fits_gsm7(text: str) -> bool:
    """Whether every character is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count(text: str, encoding: str | None = None) -> Segments:
    """The parts ``text`` is sent in; an empty text is one (empty) SMS."""
    if encoding is None:
        encoding = GSM7 if fits_gsm7(text) else UCS2
    if encoding == GSM7:
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    elif encoding == UCS2:
        units = len(text.encode("utf-16-le")) // 2
    else:
        raise SimulatorError(f"encoding {encoding!r}: use {GSM7} or {UCS2}")
    single, per_part = _LIMITS[encoding]
    parts = 1 if units <= single else math.ceil(units / per_part)
    return Segments(encoding, units, parts)
