"""Nexmo/Vonage request signatures (docs/provider-api.md §5): one algorithm for signing and checking.

The simulator signs receipts with :func:`sign` and the receiver checks them
with :func:`verify`, so both ends share one implementation of the quirks: sorted
keys, ``&``/``=`` in values replaced by ``_``, a leading ``&``, upper-case HMAC
hex but lower-case md5hash, and a case-insensitive, constant-time compare.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

METHODS: Final = ("md5hash", "md5", "sha1", "sha256", "sha512")
_HMAC_DIGESTS: Final = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


def signing_string(params: Mapping[str, str]) -> str:
    """``&k1=v1&k2=v2`` over every param but ``sig``, keys in byte order."""
    parts = []
    for key in sorted(params):
        if key == "sig":
            continue
        value = params[key].replace("&", "_").replace("=", "_")
        parts.append(f"&{key}={value}")
    return "".join(parts)


def sign(params: Mapping[str, str], secret: str, method: str = "md5hash") -> str:
    """The ``sig`` value for ``params`` (which must already hold ``timestamp``)."""
    payload = signing_string(params)
    if method == "md5hash":
        return hashlib.md5((payload + secret).encode("utf-8")).hexdigest()
    try:
        digest = _HMAC_DIGESTS[method]
    except KeyError:
        raise ValueError(f"unknown signature method {method!r}; use one of {METHODS}") from None
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), digest).hexdigest().upper()


def verify(params: Mapping[str, str], secret: str, method: str = "md5hash") -> bool:
    """Whether ``params['sig']`` is right for the rest of ``params``."""
    received = params.get("sig")
    if not received:
        return False
    expected = sign(params, secret, method)
    return hmac.compare_digest(received.lower().encode("ascii", "replace"), expected.lower().encode())
