"""Twilio's ``X-Twilio-Signature`` (docs/provider-routes.md §B.5): one algorithm for signing and checking.

The simulator signs its status callbacks with :func:`twilio_signature`; the
receiver checks them with :func:`verify_twilio`, so both ends share the quirks:

* the signed string is the **full URL Twilio called** (scheme, host, path,
  query) followed by every POST param, names sorted by code point, each as
  ``name + value`` with no separator; a repeated name contributes each of its
  distinct values, sorted (query params are not added again: they are in the URL);
* HMAC-SHA1 keyed with the account's Auth Token, standard padded base64; or, when the
  request carries ``X-Twilio-Webhooks-Signature-Settings``, the HMAC that header names
  (``algorithm=HMAC_SHA256``; :func:`signature_algorithm`, as twilio-python's
  ``get_signature_algorithm``) keyed with the SharedKey's secret (the caller picks the key);
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
SETTINGS_HEADER: Final = "X-Twilio-Webhooks-Signature-Settings"  # key=<SharedKey id>,algorithm=<name>
BODY_HASH_PARAM: Final = "bodySHA256"
HMAC_SHA1: Final = "HMAC_SHA1"
HMAC_SHA256: Final = "HMAC_SHA256"
HASHES: Final = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


def signature_algorithm(settings_header: str | None) -> str:
    """The HMAC a request's ``X-Twilio-Webhooks-Signature-Settings`` names, upper-cased: its
    ``algorithm=`` part; none (no header, or no such part) means ``HMAC_SHA1``. May be a name
    :data:`HASHES` does not know, which then fails verification (as in both SDKs)."""
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return HMAC_SHA1


def signing_string(url: str, params: Mapping[str, ParamValue]) -> str:
    """``url`` then ``name + value`` for every param (names sorted, repeated values deduped and sorted)."""
    parts = [url]
    for name in sorted(params):
        value = params[name]
        values = [value] if isinstance(value, str) else sorted(set(value))
        parts.extend(name + item for item in values)
    return "".join(parts)


def twilio_signature(key: str, url: str, params: Mapping[str, ParamValue], algorithm: str = HMAC_SHA1) -> str:
    """The ``X-Twilio-Signature`` value for a POST of ``params`` to ``url``, keyed with ``key`` (the
    Auth Token, or a SharedKey's secret) and hashed with ``algorithm`` (a :data:`HASHES` name)."""
    digest = hmac.new(key.encode(), signing_string(url, params).encode(), HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio(
    key: str,
    url: str,
    params: Mapping[str, ParamValue],
    signature: str,
    body: bytes | None = None,
    algorithm: str = HMAC_SHA1,
) -> bool:
    """Whether ``signature`` is right for this request, with or without the URL's port.

    For a JSON body pass the raw ``body`` and no ``params``: the URL's
    ``bodySHA256`` must then match it. A missing ``bodySHA256`` with a ``body``
    given, or a mismatch, is False; so is an ``algorithm`` not in :data:`HASHES`.
    """
    if not signature or algorithm not in HASHES:
        return False
    if body is not None and not _body_hash_ok(url, body):
        return False
    split = urlsplit(url)
    received = signature.encode("ascii", "replace")
    candidates = {_without_port(split), _with_default_port(split)}
    return any(
        hmac.compare_digest(twilio_signature(key, candidate, params, algorithm).encode(), received)
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
