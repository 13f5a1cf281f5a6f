"""The Messages API application's key pair: its public half verifies the requests' RS256 JWTs.

A real application's public key can be given (``vonage_public_key``, ``pinrelay sim
--vonage-public-key FILE``). Without one the simulator makes a demo RSA key pair on first
use and keeps it for its life; ``pinrelay sim`` writes the private half to a file (PKCS#8
PEM, the form the SDKs load) and prints where, so a demo can sign as the application.
"""

from __future__ import annotations

import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import SimConfigError

DEMO_KEY_BITS = 2048


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """The key in ``pem`` (an RSA public key, PEM), or SimConfigError saying what is wrong."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise SimConfigError(f"vonage_public_key: not a PEM public key ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SimConfigError("vonage_public_key: must be an RSA key (the JWTs are RS256)")
    return key


class ApplicationKeys:
    """The configured public key, or a demo pair made once, on first use (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._demo: rsa.RSAPrivateKey | None = None
        self._loaded: tuple[str, rsa.RSAPublicKey] | None = None

    def public_key(self, configured_pem: str) -> rsa.RSAPublicKey:
        """The key JWTs must verify against: ``configured_pem``'s, else the demo pair's."""
        if not configured_pem:
            return self._demo_key().public_key()
        with self._lock:
            if self._loaded is None or self._loaded[0] != configured_pem:
                self._loaded = (configured_pem, load_public_key(configured_pem))
            return self._loaded[1]

    def describe(self, application_id: str, configured_pem: str) -> dict[str, str | None]:
        """``application_id``, ``public_key`` and (demo pair only) ``private_key``, as PEM text."""
        public = self.public_key(configured_pem).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private = None if configured_pem else self.demo_private_pem().decode()
        return {"application_id": application_id, "public_key": public.decode(), "private_key": private}

    def demo_private_pem(self) -> bytes:
        """The demo private key as unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``)."""
        return self._demo_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def _demo_key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._demo is None:
                self._demo = rsa.generate_private_key(public_exponent=65537, key_size=DEMO_KEY_BITS)
            return self._demo
