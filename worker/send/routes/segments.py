"""Whether a text fits one SMS (docs/provider-routes.md §A.3, §D.3): GSM-7 septets or UCS-2 units.

A one-time code must be one segment: 160 GSM-7 septets (the extension characters
``^ { } [ ] ~ \\ | €`` and form feed take two) or, when any character is outside
GSM-7, 70 UTF-16 code units. A longer text is refused at start, never split: a
multi-part code can arrive partly, out of order, and is charged per part.
"""

from __future__ import annotations

from typing import Final

GSM7_LIMIT: Final = 160
UCS2_LIMIT: Final = 70
#: the GSM 03.38 basic table (escape excluded)
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: reached through the escape, so two septets each
GSM7_EXTENSION: Final = frozenset("^{}\\[~]|€\f")


def needs_unicode(text: str) -> bool:
    """Whether some character is outside GSM-7 (the Vonage route then sends ``type=unicode``)."""
    return not all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def length(text: str) -> tuple[int, int]:
    """(units used, units one SMS holds) in the encoding the text needs."""
    if needs_unicode(text):
        return len(text.encode("utf-16-le")) // 2, UCS2_LIMIT
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text), GSM7_LIMIT
