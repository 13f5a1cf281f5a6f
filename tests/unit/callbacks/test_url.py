"""The callback URL policy: http(s) only, and no host that resolves inside (SSRF)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from worker.enqueue.callback_url import check, check_syntax, is_public
from worker.errors import ValidationError


def resolver(*addresses: str) -> object:
    def resolve(host: str, port: int) -> Sequence[str]:
        return addresses

    return resolve


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "240.0.0.1", "192.0.2.10",
    # IPv6 that embeds an inside IPv4 address, or is inside itself (issue 23 finding 5)
    "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2002:a00:1::1", "fec0::1", "feff::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:7f00:1::1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1",
    "64:ff9b::a00:1", "64:ff9b:1::808:808", "::7f00:1", "::a9fe:a9fe", "::808:808",
])
def test_inside_addresses_are_not_public(address: str) -> None:
    """Loopback, private, link-local (cloud metadata), shared, multicast, reserved: all refused."""
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2002:808:808::1",
                                     "64:ff9b::808:808", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(address)


def test_a_host_resolving_to_one_private_address_is_refused() -> None:
    """One inside address among public ones is enough to refuse (the connection could pick it)."""
    with pytest.raises(ValidationError, match=r"public host.*ALLOW_PRIVATE") as caught:
        check("https://hooks.example.com/x", allow_private=False,
              resolver=resolver("93.184.215.14", "10.0.0.5"))  # type: ignore[arg-type]
    assert caught.value.field == "callback_url" and "10.0.0.5" not in str(caught.value)


def test_every_non_public_host_is_refused_with_the_same_words() -> None:
    """No refusal says what a host resolved to, or whether it resolved at all: a key holder cannot
    map internal names with it (`http://redis/` under compose)."""
    def fails(host: str, port: int) -> Sequence[str]:
        raise OSError("no such host")

    messages = set()
    for url, resolve in [("http://redis/", resolver("172.18.0.3")), ("http://nowhere.invalid/", fails),
                         ("http://[2002:7f00:1::1]/", resolver("2002:7f00:1::1")),
                         ("http://metadata/", resolver("169.254.169.254")), ("http://x/", resolver())]:
        with pytest.raises(ValidationError) as caught:
            check(url, allow_private=False, resolver=resolve)  # type: ignore[arg-type]
        messages.add(str(caught.value))
    (only,) = messages
    assert not any(part in only for part in ("172.18", "169.254", "2002:", "resolve to a", "OSError"))


def test_the_switch_allows_private_hosts() -> None:
    target = check("http://localhost:8080/cb?a=1", allow_private=True, resolver=resolver("127.0.0.1"))  # type: ignore[arg-type]
    assert (target.scheme, target.host, target.port) == ("http", "localhost", 8080)
    assert target.addresses == ("127.0.0.1",)


def test_a_public_host_is_checked_and_resolved() -> None:
    target = check("https://hooks.example.com/pinrelay", allow_private=False,
                   resolver=resolver("93.184.215.14"))  # type: ignore[arg-type]
    assert target.port == 443 and target.addresses == ("93.184.215.14",)


def test_an_unresolvable_host_is_refused() -> None:
    def fails(host: str, port: int) -> Sequence[str]:
        raise OSError("no such host")

    with pytest.raises(ValidationError, match="does not resolve"):
        check("https://nowhere.invalid/", allow_private=True, resolver=fails)


@pytest.mark.parametrize("url", [
    "ftp://example.com/", "file:///etc/passwd", "gopher://x", "https://", "//example.com/x", "example.com",
    "https://user:pw@example.com/", "https://example.com:0/", "https://exa mple.com/", "https://例え.jp/",
    "http://example.com:99999/", 42, None, "", "https://example.com/" + "a" * 2100,
])
def test_malformed_urls_are_refused_before_any_lookup(url: object) -> None:
    with pytest.raises(ValidationError) as caught:
        check_syntax(url)
    assert caught.value.field == "callback_url"
