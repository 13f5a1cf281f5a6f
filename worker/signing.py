"""Nexmo/Vonage request signatures (docs/provider-api.md §5): one algorithm for signing and checking.

The simulator signs receipts with :func:`sign`, the receiver (:mod:`webhook.receipts`) checks
them with :func:`verify` and the 2FA route (:mod:`worker.send.routes.vonage`) signs its
requests, so every end shares one implementation of the quirks: sorted
keys, ``&``/``=`` in values replaced by ``_``, a leading ``&``, upper-case HMAC
hex but lower-case md5hash, and a case-insensitive, constant-time compare.

The key-dependent work (the HMAC's padded key, the secret's bytes) is done once per
(secret, method) in a :class:`Signer`, which :func:`sign` and :func:`verify` keep cached:
the receiver checks every receipt with the same secret. It lives in the foundation because
both the sending stage and the receiver use it, and neither may import the other.
"""

from __future__ import annotations

import functools
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
        value = params[key]
        if "&" in value or "=" in value:
            value = value.replace("&", "_").replace("=", "_")
        parts.append(f"&{key}={value}")
    return "".join(parts)


class Signer:
    """Signs and checks with one secret and method; the key's share of the work done once."""

    __slots__ = ("_hmac", "_secret")

    def __init__(self, secret: str, method: str = "md5hash") -> None:
        if method == "md5hash":
            self._hmac: hmac.HMAC | None = None
        else:
            try:
                digest = _HMAC_DIGESTS[method]
            except KeyError:
                raise ValueError(f"unknown signature method {method!r}; use one of {METHODS}") from None
            self._hmac = hmac.new(secret.encode("utf-8"), digestmod=digest)
        self._secret = secret

    def sign(self, params: Mapping[str, str]) -> str:
        """The ``sig`` value for ``params`` (which must already hold ``timestamp``)."""
        payload = signing_string(params)
        if self._hmac is None:
            return hashlib.md5((payload + self._secret).encode("utf-8")).hexdigest()
        mac = self._hmac.copy()
        mac.update(payload.encode("utf-8"))
        return mac.hexdigest().upper()

    def verify(self, params: Mapping[str, str]) -> bool:
        """Whether ``params['sig']`` is right for the rest of ``params``."""
        received = params.get("sig")
        if not received:
            return False
        expected = self.sign(params)
        return hmac.compare_digest(received.lower().encode("ascii", "replace"), expected.lower().encode())


@functools.lru_cache(maxsize=16)
def signer(secret: str, method: str = "md5hash") -> Signer:
    """The (cached) :class:`Signer` for ``secret`` and ``method``."""
    return Signer(secret, method)


def sign(params: Mapping[str, str], secret: str, method: str = "md5hash") -> str:
    """The ``sig`` value for ``params`` (which must already hold ``timestamp``)."""
    return signer(secret, method).sign(params)


def verify(params: Mapping[str, str], secret: str, method: str = "md5hash") -> bool:
    """Whether ``params['sig']`` is right for the rest of ``params``."""
    return signer(secret, method).verify(params)
