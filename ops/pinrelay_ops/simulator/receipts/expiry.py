"""Validity periods (docs/provider-routes.md §V): what a request asked for, and when it runs out here.

Each route's request may carry one: the SMS API's ``ttl`` (milliseconds), Twilio's
``ValidityPeriod`` (seconds) and the Messages API's ``ttl`` (seconds); the short-code 2FA
API has none. Every request record holds it as ``validity_s`` (None when absent).

The simulator "delivers" when it pushes the first receipt, after the delay it draws for
the send (``dlr_delay_s`` plus up to ``dlr_jitter_s``). A validity shorter than that
delay expires the message, and the receipts say so in each provider's own words:

=============  ==================================================================
SMS API        a final DLR ``status=expired`` (``err-code`` 1: no source names the
               code Vonage sends for a ``ttl`` expiry, see §V)
Twilio         ``failed`` with ``ErrorCode`` 30036 (Validity Period Expired), no ``sent``
Messages API   ``submitted``, then ``rejected`` with error 1360 (TTL was activated)
=============  ==================================================================
"""

from __future__ import annotations

from typing import Final

SMS_EXPIRED: Final = ("expired", "1")  # (DLR status, err-code)
TWILIO_EXPIRED: Final = ("failed", "30036")  # (MessageStatus, ErrorCode)
MESSAGES_EXPIRED_CODE: Final = 1360


def validity_s(value: str | None, unit_s: float) -> float | None:
    """A request's validity in seconds: ``value`` (a number of ``unit_s``); None if absent or not a number."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number * unit_s


def expires(validity: float | None, delay_s: float) -> bool:
    """Whether a message valid for ``validity`` seconds runs out before its receipt delay."""
    return validity is not None and validity < delay_s
