"""Value objects that check themselves at construction.

A :class:`SendRequest` that exists is valid: the number is a real number in an
allowed region, the PIN is 4-10 digits, the client-ref fits the provider's 40
characters. Errors show the offending value redacted, never a whole PIN.

Digits are ASCII ``0-9`` only: ``\\d`` (and phonenumbers) also take fullwidth (U+FF10..)
and Arabic-Indic (U+0660..) digits, which would be a *different* string for the denylist
and the per-number limits while the provider reads the same number (RELIABILITY.md).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import phonenumbers

from worker import constants as c
from worker.enqueue import nanp
from worker.errors import ValidationError
from worker.masking import mask_number

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# Template parameter names: short lower-case words, never a name the 2FA request, a signature
# or a receipt already gives a meaning to (docs/provider-api.md §1, §4, §5).
_PARAM_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_RESERVED_PARAMS = frozenset(
    {"api_key", "api_secret", "to", "pin", "client-ref", "sig", "callback", "timestamp"}
)
IDEMPOTENCY_KEY_MAX_CHARS = 128


def _printable_ascii(text: str) -> bool:
    """Space to tilde only: no control characters, no look-alike or invisible Unicode.

    (Of the ASCII characters, exactly space to tilde are printable for ``str.isprintable``.)
    """
    return text.isascii() and text.isprintable()


def validate_number(to: object, regions: tuple[str, ...] = c.DEFAULT_PHONE_REGIONS) -> str:
    """Return ``to`` as E.164 digits (no ``+``) or raise :class:`ValidationError`.

    The provider wants the country code and no ``+``/``00``; ``+14155550100`` is
    accepted and stored as ``14155550100``. US short codes only reach the US and
    Canada, so other regions are refused unless configured.
    """
    return validate_number_region(to, regions)[0]


def region_of(e164: str) -> str:
    """The region (``US``, ``CA``, ...) of a stored number (E.164 digits), "" if unknown: the
    country a (route, country) breaker is keyed by."""
    known = nanp.classify(e164)
    if known is not None:
        return known[1] or ""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse("+" + e164, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def validate_number_region(to: object, regions: tuple[str, ...] = c.DEFAULT_PHONE_REGIONS) -> tuple[str, str]:
    """:func:`validate_number`, and the number's region (kept with the record)."""
    if not isinstance(to, str):
        raise ValidationError("to", f"must be a string of digits, got {type(to).__name__}")
    digits = to.removeprefix("+")
    if not _DIGITS.fullmatch(digits) or not 7 <= len(digits) <= 15:
        raise ValidationError(
            "to", f"{mask_number(to)!r} must be 7-15 ASCII digits 0-9 with the country code "
            "(an optional leading '+')"
        )
    if digits.startswith("00"):
        raise ValidationError("to", f"{mask_number(to)!r} must not start with 00")
    known = nanp.classify(digits)  # phonenumbers' answer for 1NXXNXXXXXX, without its cost
    if known is not None:
        valid, region = known
        e164 = digits
    else:
        try:
            parsed = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError("to", f"{mask_number(to)!r} is not a phone number: {exc}") from None
        valid = phonenumbers.is_valid_number(parsed)
        region = phonenumbers.region_code_for_number(parsed)
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")
    if not valid:
        raise ValidationError("to", f"{mask_number(to)!r} is not a valid phone number{_nanp_hint(digits)}")
    if region not in regions:
        raise ValidationError(
            "to", f"{mask_number(to)!r} is in {region}; allowed regions: {', '.join(regions)}"
            f"{_nanp_hint(digits)}"
        )
    return e164, str(region)


def _nanp_hint(digits: str) -> str:
    """``; did you mean 1636555****?`` when ``digits`` is a US/Canada number without its 1."""
    if len(digits) != 10:
        return ""
    try:
        parsed = phonenumbers.parse("+1" + digits, None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    return f"; did you mean {mask_number('1' + digits)} (country code 1 first)?"


def validate_pin(pin: object) -> str:
    if isinstance(pin, int) and not isinstance(pin, bool):
        raise ValidationError("pin", "must be a string (an int loses leading zeros)")
    if not isinstance(pin, str) or not _DIGITS.fullmatch(pin):
        raise ValidationError("pin", "must be a string of ASCII digits 0-9")
    if not c.PIN_MIN_DIGITS <= len(pin) <= c.PIN_MAX_DIGITS:
        raise ValidationError(
            "pin", f"must be {c.PIN_MIN_DIGITS}-{c.PIN_MAX_DIGITS} digits, got {len(pin)}"
        )
    return pin


def validate_client_ref(client_ref: object) -> str | None:
    if client_ref is None:
        return None
    if not isinstance(client_ref, str) or not client_ref:
        raise ValidationError("client_ref", "must be a non-empty string")
    if len(client_ref) > c.CLIENT_REF_MAX_CHARS:
        raise ValidationError(
            "client_ref", f"is {len(client_ref)} chars; the provider allows {c.CLIENT_REF_MAX_CHARS}"
        )
    if not _printable_ascii(client_ref):
        raise ValidationError("client_ref", "must be printable ASCII (no control characters)")
    return client_ref


def validate_idempotency_key(key: object) -> str | None:
    """A caller's repeat-safe key: 1-128 printable ASCII characters (it becomes a Redis key name)."""
    if key is None:
        return None
    if not isinstance(key, str) or not key:
        raise ValidationError("idempotency_key", "must be a non-empty string")
    if len(key) > IDEMPOTENCY_KEY_MAX_CHARS:
        raise ValidationError(
            "idempotency_key", f"is {len(key)} chars; at most {IDEMPOTENCY_KEY_MAX_CHARS} allowed"
        )
    if not _printable_ascii(key):
        raise ValidationError("idempotency_key", "must be printable ASCII (no control characters)")
    return key


def validate_params(params: object) -> dict[str, str]:
    """Template parameters, passed to the provider unchanged (docs/provider-api.md §1)."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ValidationError("params", "must be a mapping of template parameter names to values")
    out: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not _PARAM_NAME.fullmatch(key) or key in _RESERVED_PARAMS:
            raise ValidationError(
                "params", f"{key!r} is not an allowed template parameter name ([a-z0-9_-]{{1,32}}, "
                f"not one of {', '.join(sorted(_RESERVED_PARAMS))})"
            )
        if not isinstance(value, str | int):
            raise ValidationError("params", f"{key!r} must be a string")
        out[key] = str(value)
    return out


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One PIN to deliver. Construction validates; the repr never shows the PIN."""

    to: str
    pin: str = field(repr=False)
    client_ref: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    region: str = field(default="", compare=False)  # of ``to``: the destination country
    #: when the PIN expires (unix s): the routes send what is left of it as the message's validity
    #: period (docs/provider-routes.md §V); set by the worker from the record, never by a caller
    expires_at: float | None = field(default=None, compare=False)

    @classmethod
    def build(
        cls,
        to: object,
        pin: object,
        client_ref: object = None,
        params: object = None,
        *,
        regions: tuple[str, ...] = c.DEFAULT_PHONE_REGIONS,
        number_types: Collection[str] | None = None,
    ) -> SendRequest:
        """A validated request; with ``number_types`` (``PINRELAY_NUMBER_TYPES``) the number's
        type must be one of them (:class:`worker.errors.NumberTypeRefusedError`). Requests rebuilt
        from a stored record pass None: they were checked when they were accepted."""
        number, region = validate_number_region(to, regions)
        if number_types is not None:
            from worker.enqueue.numbertype import check_number_type

            check_number_type(number, number_types, region)
        return cls(
            to=number,
            pin=validate_pin(pin),
            client_ref=validate_client_ref(client_ref),
            params=validate_params(params),
            region=region,
        )
