"""Which ``callback_url`` pinrelay will POST an outcome to, and which it refuses.

A callback makes pinrelay's own network send a request to an address the caller chose,
so it is a server-side request forgery risk: ``http://169.254.169.254/`` (a cloud's
metadata service), ``http://localhost:6379/`` or an office network behind the firewall.
The rule: only ``http``/``https``, no user-info, and every address the host resolves to
must be a public one (not loopback, private, link-local, shared, multicast, reserved or
unspecified; for IPv6 also not site-local ``fec0::/10``, not local-use NAT64 ``64:ff9b:1::/48``,
not IPv4-compatible ``::/96``, and no 6to4, Teredo, NAT64 or IPv4-mapped address whose embedded
IPv4 address is not public: ``2002:7f00:1::1`` is 127.0.0.1), unless
``PINRELAY_CALLBACK_ALLOW_PRIVATE=1``. Every refusal of a host reads the same
(:data:`NOT_PUBLIC`), whether it did not resolve or resolved inside, and never names an
address: otherwise any key holder could map the internal names (``http://redis/``) and what
they resolve to. The check runs when the send
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

import redis

from worker import constants as c
from worker.config import Settings
from worker.errors import StoreUnavailableError, ValidationError

MAX_URL_CHARS: Final = 2048
FIELD: Final = "callback_url"
NOT_PUBLIC: Final = ("must name a public host: callbacks go only to hosts that resolve to public "
                     "addresses (PINRELAY_CALLBACK_ALLOW_PRIVATE=1 allows others)")
_SITE_LOCAL: Final = ipaddress.ip_network("fec0::/10")  # deprecated (RFC 3879), still routed inside
_NAT64_LOCAL: Final = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_V4_COMPATIBLE: Final = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible (RFC 4291)

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
    """Whether ``address`` is a globally routable unicast address, and, for IPv6, embeds no IPv4
    address that is not (IPv4-mapped, 6to4, Teredo, NAT64)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _public(ip)
    if ip in _SITE_LOCAL or ip in _NAT64_LOCAL or ip in _V4_COMPATIBLE:
        return False
    nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
    embedded = [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ()), nat64) if v4 is not None]
    if any(not _public(v4) for v4 in embedded):
        return False
    translated = ip.ipv4_mapped or nat64  # reaches that IPv4 address: its rules, not the prefix's
    return _public(translated) if translated is not None else _public(ip)


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
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
    except (OSError, UnicodeError):
        addresses = ()
    if not allow_private and (not addresses or not all(_parses_public(a) for a in addresses)):
        raise ValidationError(FIELD, NOT_PUBLIC)  # one message: nothing about what it resolved to
    if not addresses:
        raise ValidationError(FIELD, f"host {host!r} does not resolve")
    return CallbackTarget(text, parts.scheme, host, port, addresses)


def _parses_public(address: str) -> bool:
    try:
        return is_public(address)
    except ValueError:  # not an address at all (a resolver that answered oddly): not public
        return False


def checked_url(settings: Settings, client: redis.Redis, url: str, key_id: str | None = None) -> str:
    """``url`` for a send's record: refused unless a secret can sign its callbacks (API key
    ``key_id``'s own, or ``PINRELAY_CALLBACK_SECRET``) and it passes :func:`check`."""
    if settings.callback_secret is None and not _has_own_secret(settings, client, key_id):
        raise ValidationError(FIELD, "callbacks are off: PINRELAY_CALLBACK_SECRET is not set")
    return check(url, allow_private=settings.callback_allow_private).url


def _has_own_secret(settings: Settings, client: redis.Redis, key_id: str | None) -> bool:
    if not key_id:
        return False
    try:
        key = f"{settings.key_prefix}{c.KEY_API_KEY}{key_id}"
        return bool(client.hexists(key, c.API_KEY_CALLBACK_SECRET_FIELD))
    except redis.RedisError as exc:
        raise StoreUnavailableError(f"cannot read the API key: {exc}") from exc
