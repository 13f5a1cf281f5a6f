"""The pumping guard's list settings: caps and prices per country, number types, safe entries.

``US=2000,CA=300,*=100`` (a value per ISO country, ``*`` for every other allowed one) is how the
caps and the price estimates are written; both are read by one parser and kept as normalised
``("US=2000", "*=100")`` tuples, which :func:`country_caps` and :func:`country_prices` turn into
dicts for the guard (worker/guard/decide.py, worker/guard/limits.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator

from worker.config.types import items

__all__ = ["CountryCaps", "CountryPrices", "NumberTypes", "DigitEntries", "country_caps", "country_prices",
           "NUMBER_TYPES"]

NUMBER_TYPES: Final = ("mobile", "fixed_line_or_mobile", "fixed_line", "premium_rate", "toll_free",
                       "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


def _country_pairs(entries: tuple[str, ...], value: Callable[[str], str | None],
                   example: str) -> tuple[str, ...]:
    """``COUNTRY=VALUE`` pairs, each country (ISO code or ``*``) once, each value as ``value``
    normalises it (None: not valid); ``example`` is what the error shows."""
    seen: set[str] = set()
    out = []
    for entry in entries:
        country, equals, text = entry.partition("=")
        country = country.strip().upper()
        shown = value(text.strip()) if equals else None
        iso = len(country) == 2 and country.isalpha()
        if shown is None or country in seen or not (country == "*" or iso):
            raise ValueError(f"must be COUNTRY={example} (each country once)")
        seen.add(country)
        out.append(f"{country}={shown}")
    return tuple(out)


def _count(text: str) -> str | None:
    return str(int(text)) if text.isascii() and text.isdigit() else None


def _price(text: str) -> str | None:
    try:
        price = float(text)
    except ValueError:
        return None
    return f"{price:g}" if 0 <= price < 1e6 else None


def _country_caps(entries: tuple[str, ...]) -> tuple[str, ...]:
    return _country_pairs(entries, _count, "COUNT pairs such as US=2000,CA=300,*=100")


def _prices(entries: tuple[str, ...]) -> tuple[str, ...]:
    return _country_pairs(entries, _price, "PRICE pairs such as US=0.0081,*=0.05")


def country_caps(caps: tuple[str, ...]) -> dict[str, int]:
    """A :data:`CountryCaps` value as ``{"US": 2000, "*": 100}``."""
    return {country: int(number) for country, _, number in (cap.partition("=") for cap in caps)}


def country_prices(prices: tuple[str, ...]) -> dict[str, float]:
    """A :data:`CountryPrices` value as ``{"US": 0.0081, "*": 0.05}``."""
    return {country: float(number) for country, _, number in (p.partition("=") for p in prices)}


def _number_types(entries: tuple[str, ...]) -> tuple[str, ...]:
    types = tuple(entry.lower() for entry in entries)
    if not types or any(t not in NUMBER_TYPES for t in types):
        raise ValueError(f"must be phonenumbers number types from {', '.join(NUMBER_TYPES)}")
    return types


def _digit_entries(entries: tuple[str, ...]) -> tuple[str, ...]:
    """Prefixes or whole numbers: E.164 digits (a leading ``+`` is dropped), 4 to 15 of them."""
    cleaned = tuple(entry.removeprefix("+") for entry in entries)
    if any(not (entry.isascii() and entry.isdigit() and 4 <= len(entry) <= 15) for entry in cleaned):
        raise ValueError("must be prefixes or numbers of 4 to 15 digits, such as 1636555,16365553226")
    return cleaned


CountryCaps = Annotated[tuple[str, ...], BeforeValidator(items), AfterValidator(_country_caps)]
CountryPrices = Annotated[tuple[str, ...], BeforeValidator(items), AfterValidator(_prices)]
NumberTypes = Annotated[tuple[str, ...], BeforeValidator(items), AfterValidator(_number_types)]
DigitEntries = Annotated[tuple[str, ...], BeforeValidator(items), AfterValidator(_digit_entries)]
