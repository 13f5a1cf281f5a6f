"""Twilio's ``X-Twilio-Signature`` (docs/provider-routes.md §B.5): one algorithm for signing and checking.

The simulator signs its status callbacks with :func:`twilio_signature`; the
receiver checks them with :func:`verify_twilio`, so both ends share the quirks:

* the signed string is the **full URL Twilio called** (scheme, host, path,
  query) followed by every POST param, names sorted by code point, each as
  ``name + value`` with no separator; a repeated name contributes each of its
  distinct values, sorted (query params are not added again: they are in the URL);
* HMAC-SHA1 keyed with the account's Auth Token, standard padded base64;
* a JSON body is not in the string: the URL carries ``bodySHA256`` (hex SHA-256
  of the raw body), which must match the body;
* the port: Twilio's backend is inconsistent, so a signature made over the URL
  with the port removed *or* with the default port (443/80) added is accepted.

Nothing here reads configuration or the network; compare in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

#: a param value as parsed from a form: one string, or every value of a repeated name
ParamValue = str | Sequence[str]
HEADER: Final = "X-Twilio-Signature"
BODY_HASH_PARAM: Final = "bodySHA256"
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def signing_string(url: str, params: Mapping[str, ParamValue]) -> str:
    """``url`` then ``name + value`` for every param (names sorted, repeated values deduped and sorted)."""
    parts = [url]
    for name in sorted(params):
        value = params[name]
        values = [value] if isinstance(value, str) else sorted(set(value))
        parts.extend(name + item for item in values)
    return "".join(parts)


def twilio_signature(auth_token: str, url: str, params: Mapping[str, ParamValue]) -> str:
    """The ``X-Twilio-Signature`` value for a POST of ``params`` to ``url``."""
    digest = hmac.new(auth_token.encode(), signing_string(url, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio(
    auth_token: str,
    url: str,
    params: Mapping[str, ParamValue],
    signature: str,
    body: bytes | None = None,
) -> bool:
    """Whether ``signature`` is right for this request, with or without the URL's port.

    For a JSON body pass the raw ``body`` and no ``params``: the URL's
    ``bodySHA256`` must then match it. A missing ``bodySHA256`` with a ``body``
    given, or a mismatch, is False.
    """
    if not signature:
        return False
    if body is not None and not _body_hash_ok(url, body):
        return False
    split = urlsplit(url)
    received = signature.encode("ascii", "replace")
    candidates = {_without_port(split), _with_default_port(split)}
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, params).encode(), received)
        for candidate in sorted(candidates)
    )


def body_sha256(body: bytes) -> str:
    """The hex SHA-256 Twilio puts in ``bodySHA256`` for a JSON body."""
    return hashlib.sha256(body).hexdigest()


def _body_hash_ok(url: str, body: bytes) -> bool:
    claimed = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)).get(BODY_HASH_PARAM, "")
    return bool(claimed) and hmac.compare_digest(claimed.lower().encode(), body_sha256(body).encode())


def _host_port(netloc: str) -> tuple[str, str, str]:
    """``netloc`` as (userinfo with its ``@``, host, port), IPv6 brackets kept in the host."""
    userinfo, at, hostport = netloc.rpartition("@")
    prefix = userinfo + at
    if hostport.startswith("["):
        host, _, rest = hostport.partition("]")
        return prefix, host + "]", rest[1:] if rest.startswith(":") else ""
    host, _, port = hostport.partition(":")
    return prefix, host, port


def _without_port(split: SplitResult) -> str:
    prefix, host, _ = _host_port(split.netloc)
    return urlunsplit(split._replace(netloc=prefix + host))


def _with_default_port(split: SplitResult) -> str:
    prefix, host, port = _host_port(split.netloc)
    if port or split.scheme not in _DEFAULT_PORTS:
        return urlunsplit(split)
    return urlunsplit(split._replace(netloc=f"{prefix}{host}:{_DEFAULT_PORTS[split.scheme]}"))
