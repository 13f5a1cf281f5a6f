"""The text of a code on the SMS routes: ``PINRELAY_SMS_TEMPLATE``, or one per region/language.

Checked once, at start, so no send can fail on it later: every template must hold
``{pin}`` and, with the longest PIN pinrelay accepts, fit one SMS
(:mod:`.segments`). ``PINRELAY_SMS_TEMPLATES`` names a JSON file of
``{"FR": "Votre code : {pin}", "es": "Tu código es {pin}"}``: a key is a region
code (``FR``) or a language (``es``); a number's region picks its template,
then the region's language, then the default. Only ``{pin}`` is replaced, so a
template may show other braces as they are.

Every text then gets the autofill lines (:func:`autofill`): ``PINRELAY_ANDROID_APP_HASH``
(the SMS Retriever API reads only a message that includes the app's hash) and, last,
``PINRELAY_OTP_DOMAIN``'s origin-bound line ``@example.com #123456`` (iOS, Safari and Chrome
offer the code only on that site, so a phishing page cannot take it, and the line must be
the last). They count in the one-SMS check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import phonenumbers

from worker import constants as c
from worker.config import Settings
from worker.errors import ConfigError
from worker.send.routes.segments import length

PLACEHOLDER: Final = "{pin}"
#: the usual language of a region, for templates keyed by language
REGION_LANGUAGE: Final = {
    "US": "en", "CA": "en", "GB": "en", "IE": "en", "AU": "en", "NZ": "en", "IN": "en",
    "FR": "fr", "BE": "fr", "CH": "de", "DE": "de", "AT": "de", "ES": "es", "MX": "es",
    "AR": "es", "CO": "es", "CL": "es", "PE": "es", "IT": "it", "PT": "pt", "BR": "pt",
    "NL": "nl", "SE": "sv", "NO": "no", "DK": "da", "FI": "fi", "PL": "pl", "CZ": "cs",
    "RU": "ru", "UA": "uk", "TR": "tr", "GR": "el", "JP": "ja", "KR": "ko", "CN": "zh",
    "TW": "zh", "HK": "zh", "SA": "ar", "AE": "ar", "EG": "ar", "IL": "he", "ID": "id",
}


def autofill(pin: str, domain: str | None = None, app_hash: str | None = None) -> str:
    """What follows the text: a blank line, the app hash, then ``@domain #pin`` (the last line)."""
    lines = [line for line in (app_hash, domain and f"@{domain} #{pin}") if line]
    return "\n\n" + "\n".join(lines) if lines else ""


def check_template(template: str, where: str, domain: str | None = None, app_hash: str | None = None) -> str:
    """``template`` if it holds ``{pin}`` and fits one SMS with the longest PIN and the autofill
    lines; else ConfigError."""
    if PLACEHOLDER not in template:
        raise ConfigError(f"{where}: the template {template!r} has no {PLACEHOLDER}")
    longest = "0" * c.PIN_MAX_DIGITS
    used, limit = length(template.replace(PLACEHOLDER, longest) + autofill(longest, domain, app_hash))
    if used > limit:
        extra = " and the PINRELAY_OTP_DOMAIN / PINRELAY_ANDROID_APP_HASH lines" if domain or app_hash else ""
        raise ConfigError(
            f"{where}: with a {c.PIN_MAX_DIGITS}-digit PIN{extra} the text takes {used} of the {limit} "
            "characters one SMS holds; shorten it (a code is never split into parts)"
        )
    return template


class Templates:
    """The checked templates; :meth:`render` gives a number its text."""

    def __init__(self, default: str, by_key: Mapping[str, str] | None = None, *,
                 domain: str | None = None, app_hash: str | None = None) -> None:
        self._autofill = (domain, app_hash)
        self.default = check_template(default, "PINRELAY_SMS_TEMPLATE", domain, app_hash)
        self._by_key = {key: check_template(value, f"PINRELAY_SMS_TEMPLATES[{key!r}]", domain, app_hash)
                        for key, value in (by_key or {}).items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> Templates:
        by_key = load_file(settings.sms_templates) if settings.sms_templates else None
        return cls(settings.sms_template, by_key, domain=settings.otp_domain,
                   app_hash=settings.android_app_hash)

    def for_number(self, to: str) -> str:
        """The template for ``to`` (E.164 digits): its region's, its language's, or the default."""
        if not self._by_key:
            return self.default
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + to, None)) or ""
        except phonenumbers.NumberParseException:
            return self.default
        for key in (region, REGION_LANGUAGE.get(region, "")):
            if key and key in self._by_key:
                return self._by_key[key]
        return self.default

    def render(self, to: str, pin: str) -> str:
        return self.for_number(to).replace(PLACEHOLDER, pin) + autofill(pin, *self._autofill)


def load_file(path: str) -> dict[str, str]:
    """``PINRELAY_SMS_TEMPLATES``: a JSON object of region code (``FR``) or language (``fr``) -> text."""
    where = f"PINRELAY_SMS_TEMPLATES={path!r}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"{where}: must be a JSON object of region or language -> template text")
    out: dict[str, str] = {}
    for key, value in data.items():
        region = key.strip().upper() if len(key.strip()) == 2 and key.strip().isupper() else None
        out[region or key.strip().lower()] = value
    return out
