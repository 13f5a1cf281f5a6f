"""Which ``callback_url`` pinrelay will POST an outcome to, and which it refuses.

A callback makes pinrelay's own network send a request to an address the caller chose,
so it is a server-side request forgery risk: ``http://169.254.169.254/`` (a cloud's
metadata service), ``http://localhost:6379/`` or an office network behind the firewall.
The rule: only ``http``/``https``, no user-info, and every address the host resolves to
must be a public one (not loopback, private, link-local, shared, multicast, reserved or
unspecified), unless ``PINRELAY_CALLBACK_ALLOW_PRIVATE=1``. The check runs when the send
is enqueued (a clear error for the caller) and again right before each delivery,
against the addresses that delivery then connects to, so a DNS answer that changes in
between (rebinding) cannot point it inside.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from worker.errors import ValidationError

MAX_URL_CHARS: Final = 2048
FIELD: Final = "callback_url"

Resolver = Callable[[str, int], Sequence[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals resolve to themselves)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """A checked callback URL and the addresses it may be delivered to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def is_public(address: str) -> bool:
    """Whether ``address`` is a globally routable unicast address (IPv4-mapped IPv6 unwrapped)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_syntax(url: object) -> str:
    """``url`` if it is an absolute http(s) URL with a host and no user-info; else raise."""
    if not isinstance(url, str) or not url:
        raise ValidationError(FIELD, "must be a non-empty string")
    if len(url) > MAX_URL_CHARS:
        raise ValidationError(FIELD, f"is {len(url)} characters; at most {MAX_URL_CHARS}")
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in url) or not url.isascii():
        raise ValidationError(FIELD, "must be ASCII without spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(FIELD, f"is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError(FIELD, "must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValidationError(FIELD, "has no host")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(FIELD, "must not carry a user name or password")
    if port == 0:
        raise ValidationError(FIELD, "port 0 is not a port")
    return url


def check(url: object, *, allow_private: bool, resolver: Resolver = resolve) -> CallbackTarget:
    """The URL checked and resolved; :class:`ValidationError` naming ``callback_url`` if refused."""
    text = check_syntax(url)
    parts = urlsplit(text)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = tuple(resolver(host, port))
    except (OSError, UnicodeError) as exc:
        raise ValidationError(FIELD, f"host {host!r} does not resolve ({type(exc).__name__})") from None
    if not addresses:
        raise ValidationError(FIELD, f"host {host!r} does not resolve")
    if not allow_private:
        inside = [a for a in addresses if not is_public(a)]
        if inside:
            raise ValidationError(
                FIELD,
                f"host {host!r} resolves to a non-public address ({inside[0]}); callbacks go "
                "to public hosts only (PINRELAY_CALLBACK_ALLOW_PRIVATE=1 allows others)",
            )
    return CallbackTarget(text, parts.scheme, host, port, addresses)
