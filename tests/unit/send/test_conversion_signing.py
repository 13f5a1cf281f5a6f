"""Conversions signed as the v4 SDK signs them (docs/provider-routes.md §F), checked with vonage's own
``Auth.check_signature``; unsigned, with the key and secret."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from vonage_http_client import Auth

from worker.config import Settings
from worker.send.conversions import conversion_form
from worker.signing import verify

SECRET = "Ex4mpleSigSecret0123456789abcdef"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_a_signed_conversion_verifies_with_the_vonage_sdk(method: str) -> None:
    """`sig` over api_key, message-id, delivered and the date-time `timestamp`; no api_secret."""
    settings = Settings.from_env({}).replace(api_signature_secret=SECRET, api_signature_method=method)
    form = conversion_form(settings, "0A0000001234", delivered=True, when=WHEN)
    assert form["timestamp"] == "2026-01-02 03:04:05" and "api_secret" not in form
    sdk = Auth(api_key=settings.api_key, signature_secret=SECRET, signature_method=method)  # type: ignore[arg-type]
    assert sdk.check_signature(dict(form))
    assert not sdk.check_signature({**form, "delivered": "false"})


def test_md5hash_and_unsigned_conversions() -> None:
    """The plain md5hash the SDK lacks is still pinrelay's signature; without a secret, key + secret."""
    signed = conversion_form(Settings.from_env({}).replace(api_signature_secret=SECRET), "m", delivered=False,
                             when=WHEN)
    assert verify(signed, SECRET, "md5hash") and signed["delivered"] == "false"
    plain = conversion_form(Settings.from_env({}), "m", delivered=True, when=WHEN)
    assert (plain["api_key"], plain["api_secret"]) == ("demo-key", "demo-secret-0123") and "sig" not in plain
