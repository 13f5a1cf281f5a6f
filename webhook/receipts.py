"""Delivery receipts (docs/provider-api.md §4): parse the three transports, validate, verify the signature.

Pure functions over bytes and strings, no I/O: the receiver (:mod:`webhook.app`) reads the
request and hands the pieces here (through :mod:`webhook.intake`).

Failure policy, every case raising a :class:`~webhook.errors.ReceiptError`:

* query string and form bodies are ``application/x-www-form-urlencoded``; a
  ``%`` not followed by two hex digits, or bytes that are not UTF-8, are 400;
  a pair without ``=`` is a blank value; an empty name is 400; a repeated name
  keeps its last value (as PHP's ``$_GET``/``$_POST`` do, which the provider's
  sample code merges). :func:`parse_pairs` keeps every pair, for Twilio, which
  signs each value of a repeated name (``webhook/twilio/status.py``).
* a JSON body must be one object of flat values (read by the core's strict reader,
  :mod:`webhook.http.jsonbody`); numbers keep their exact text (``0.00480000`` stays
  ``0.00480000``), ``true``/``false`` become ``"true"``/``"false"``, ``null`` becomes
  ``""``; objects, arrays, NaN/Infinity, a name given twice, bad JSON and bad UTF-8 are 400.
* a body with no Content-Type is read as a form (as CGI always did); any other
  type, or a charset other than UTF-8/ASCII, is 415. An empty body is ignored
  whatever its type.
* query and body are merged, the body winning; more than :data:`MAX_PARAMS`
  names is 400; ``messageId`` and ``status`` must be non-empty (400).
* with a signature secret: ``sig`` and ``timestamp`` must be present, the
  timestamp within ±window seconds of the receiver's clock, and the signature
  right for every other param (``worker.signing.verify``), else 401. One exception:
  a timestamp older than the window but within ``horizon_s`` (the provider's retry
  horizon, :data:`~worker.constants.LATE_RECEIPT_HORIZON_S`) with a right signature
  is *late*, not refused (:func:`check_signature` says so; docs/provider-routes.md §G).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from worker.signing import verify

from .errors import MalformedReceiptError, SignatureRejectedError, UnsupportedMediaTypeError
from .http.errors import JsonBodyError
from .http.jsonbody import read_json

MAX_PARAMS: Final = 64  # names per receipt; a real DLR carries about 15
REQUIRED_FIELDS: Final = ("messageId", "status")
RECEIVED_AT_FIELD: Final = "received_at"  # added by the receiver, its own clock

FORM_TYPE: Final = "application/x-www-form-urlencoded"
JSON_TYPE: Final = "application/json"
_UTF8_CHARSETS: Final = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_BAD_PERCENT: Final = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_RAW_HIGH_BYTE: Final = re.compile(rb"[\x80-\xff]")


def parse_pairs(raw: bytes, where: str = "query string") -> list[tuple[str, str]]:
    """``a=1&b=x+y%21&a=2`` as ``[("a", "1"), ("b", "x y!"), ("a", "2")]``, strictly UTF-8; at most
    :data:`MAX_PARAMS` pairs."""
    if not raw:
        return []
    if _BAD_PERCENT.search(raw):
        raise MalformedReceiptError(f"bad percent-encoding in {where}")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:  # raw UTF-8 bytes: escape them so one path decodes all
        text = _RAW_HIGH_BYTE.sub(lambda m: b"%%%02X" % m[0][0], raw).decode("ascii")
    out: list[tuple[str, str]] = []
    try:
        for pair in text.split("&"):
            if not pair:
                continue
            if len(out) >= MAX_PARAMS:
                raise MalformedReceiptError(f"too many parameters (limit {MAX_PARAMS})")
            name, _, value = pair.partition("=")
            if "+" in pair:
                name, value = name.replace("+", " "), value.replace("+", " ")
            if "%" in name:
                name = unquote(name, errors="strict")
            if not name:
                raise MalformedReceiptError(f"empty parameter name in {where}")
            out.append((name, unquote(value, errors="strict") if "%" in value else value))
    except UnicodeDecodeError:
        raise MalformedReceiptError(f"{where} is not UTF-8") from None
    return out


def parse_urlencoded(raw: bytes, where: str = "query string") -> dict[str, str]:
    """``a=1&b=x+y%21`` as ``{"a": "1", "b": "x y!"}``, strictly UTF-8 (a repeated name: the last)."""
    return dict(parse_pairs(raw, where))


def query_bytes(query_string: str) -> bytes:
    """A WSGI ``QUERY_STRING`` (bytes decoded as latin-1, PEP 3333) back to its bytes."""
    try:
        return query_string.encode("latin-1")
    except UnicodeEncodeError:  # a server that decoded it as UTF-8 instead; lone
        return query_string.encode("utf-8", "surrogatepass")  # surrogates then fail as UTF-8


_JSON_LITERALS: Final = {True: "true", False: "false", None: ""}


def _json_scalar(value: object) -> str:
    # Numbers arrive as str (exact_numbers); what is left is a literal or nested.
    if value is True or value is False or value is None:
        return _JSON_LITERALS[value]
    raise MalformedReceiptError("nested value in JSON body")


def parse_json(body: bytes) -> dict[str, str]:
    """A flat JSON object as ``{name: string}``; numbers keep their exact text."""
    try:
        data = read_json(body, exact_numbers=True)
    except JsonBodyError as exc:
        raise MalformedReceiptError(exc.reason) from None
    if not isinstance(data, dict):
        raise MalformedReceiptError("JSON body is not an object")
    if len(data) > MAX_PARAMS:
        raise MalformedReceiptError(f"too many parameters (limit {MAX_PARAMS})")
    out: dict[str, str] = {}
    for key, value in data.items():
        if not key:
            raise MalformedReceiptError("empty parameter name in JSON body")
        out[key] = value if isinstance(value, str) else _json_scalar(value)
    if b"\\u" in body:  # \uD800-style escapes can smuggle in lone surrogates
        try:
            "".join(out).encode("utf-8")
            "".join(out.values()).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedReceiptError("JSON body is not valid Unicode") from None
    return out


def media_type(content_type: str | None) -> str | None:
    """The lower-cased type of a Content-Type header; 415 for a non-UTF-8 charset."""
    if not content_type:
        return None
    kind, _, params = content_type.partition(";")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in _UTF8_CHARSETS:
                raise UnsupportedMediaTypeError("only UTF-8 bodies are accepted")
    return kind.strip().lower()


def parse_body(body: bytes, content_type: str | None) -> dict[str, str]:
    """The params of a POST body: form or JSON by Content-Type (none means form)."""
    if not body:
        return {}
    kind = media_type(content_type)
    if kind is None or kind == FORM_TYPE:
        return parse_urlencoded(body, "body")
    if kind == JSON_TYPE:
        return parse_json(body)
    raise UnsupportedMediaTypeError("Content-Type must be application/x-www-form-urlencoded or JSON")


def parse_params(query_string: str, body: bytes = b"", content_type: str | None = None) -> dict[str, str]:
    """Query and body params merged, the body winning (the provider's PHP sample)."""
    params = parse_urlencoded(query_bytes(query_string)) if query_string else {}
    if body:
        params.update(parse_body(body, content_type))
        if len(params) > MAX_PARAMS:
            raise MalformedReceiptError(f"too many parameters (limit {MAX_PARAMS})")
    return params


def check_signature(
    params: Mapping[str, str], *, secret: str, method: str, window_s: float, now: float, horizon_s: float = 0
) -> bool:
    """Raise :class:`SignatureRejectedError` unless ``params`` is signed and intact, and fresh or at
    most ``horizon_s`` old; True when it is signed right but older than the window (late)."""
    if not params.get("sig"):
        raise SignatureRejectedError("missing sig")
    raw_ts = params.get("timestamp")
    if not raw_ts:
        raise SignatureRejectedError("missing timestamp")
    try:
        timestamp = float(raw_ts)
    except ValueError:
        raise SignatureRejectedError("timestamp is not a number") from None
    age = now - timestamp
    if not math.isfinite(timestamp) or age < -window_s or age > max(window_s, horizon_s):
        raise SignatureRejectedError("timestamp outside the allowed window")
    if any("&" in name or "=" in name for name in params):
        # The signed string joins `&name=value`: such a name could splice two fields into
        # one (e.g. hide the nonce) under the same signature.
        raise SignatureRejectedError("parameter name contains '&' or '='")
    if not verify(params, secret, method):
        raise SignatureRejectedError("signature mismatch")
    return age > window_s


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt that has its required fields; every value a string."""

    fields: Mapping[str, str]

    def __post_init__(self) -> None:
        for name in REQUIRED_FIELDS:
            if not self.fields.get(name, "").strip():
                raise MalformedReceiptError(f"missing {name}")

    @property
    def message_id(self) -> str:
        return self.fields["messageId"]

    @property
    def status(self) -> str:
        return self.fields["status"]

    @property
    def nonce(self) -> str | None:
        return self.fields.get("nonce") or None

    @property
    def replay_keys(self) -> list[str]:
        """The keys a replay of this signed receipt is recognised by: its nonce, and its signature.

        A signature covers the timestamp, so two honest deliveries differ in it even
        without a nonce; the same signature again is a replay (or the provider's retry
        of a receipt already queued), acknowledged but not queued twice. The nonce is
        taken as the signing string has it (``&`` and ``=`` are ``_`` there), and the
        signature is checked as well: a nonce respelled with ``&`` for ``_`` keeps its
        signature, so it is no new receipt.
        """
        keys = []
        if self.nonce:
            keys.append(self.nonce.replace("&", "_").replace("=", "_"))
        sig = self.fields.get("sig")
        if sig:
            keys.append(f"sig:{sig.lower()}")
        return keys

    def stream_fields(self, received_at: float) -> dict[str, str]:
        """Every field as given, plus ``received_at`` (ours overrides any sent)."""
        out = dict(self.fields)
        out[RECEIVED_AT_FIELD] = f"{received_at:.6f}"
        return out
