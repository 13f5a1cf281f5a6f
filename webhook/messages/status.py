"""Messages API status webhooks at ``POST /messages-status-webhook`` (docs/provider-routes.md §E.4, §E.5).

The ``messages`` route's messages report here: a JSON POST per status, ``message_uuid``,
``to``, ``from``, ``status``, ``timestamp``, ``client_ref``, ``usage`` {``currency``,
``price``}, ``error`` {``type``, ``title``, ``detail``, ``instance``}. Vonage signs each with
``Authorization: Bearer <JWT>``, HS256 keyed with the account's signature secret
(``PINRELAY_SIGNATURE_SECRET``; the Dashboard's signature *method* does not apply). A
webhook is:

* 401, nothing queued, when a secret is set and the JWT is missing, not HS256, wrongly
  signed, issued in the future (beyond ``PINRELAY_SIGNATURE_WINDOW``), or its
  ``payload_hash`` claim (when present) is not the SHA-256 of the body received
  (:func:`verify_bearer`: PyJWT, as ``vonage_jwt.verify_signature``, plus the hash the SDKs
  leave to the receiver). Without a secret nothing is checked (``pinrelay webhook`` then
  listens on loopback only, :func:`webhook.serve.check_exposure`). The JWT's age is not
  checked, as the SDKs do not: a retry may be old (§G), and a replay can only repeat what
  the provider said about that message;
* 400 when the body is not a JSON object with ``message_uuid`` and ``status``; 415 for a
  body that is not JSON;
* otherwise mapped onto our receipt fields and pushed on the same stream as every receipt,
  so the correlator settles the send by its ``message_uuid`` (the route's message-id). A
  repeat of one (``message_uuid``, ``status``), or of one JWT (``jti``), is 200 ``duplicate``.

=================  ==================================================================
``status``         our receipt status
=================  ==================================================================
submitted          accepted (passed to the carrier; what Vonage charges for)
delivered, read    delivered
rejected           rejected; **expired** with error 1360 (its ``ttl`` ran out, §V)
undeliverable      failed (the provider could not deliver it)
anything else      itself (the correlator keeps an unknown one as a dead letter)
=================  ==================================================================

The error's code (``err-code``) is ``error.title`` when it is a number, else the number
after ``#`` in ``error.type``; ``usage.price`` becomes the receipt's ``price``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import jwt

from worker.config import Settings
from worker.logs import get_logger

from ..errors import MalformedReceiptError, SignatureRejectedError, UnsupportedMediaTypeError
from ..http.errors import JsonBodyError
from ..http.jsonbody import read_json
from ..queue import Entry, ResultQueue
from ..receipts import JSON_TYPE, RECEIVED_AT_FIELD, media_type

MESSAGES_STATUS_PATH: Final = "/messages-status-webhook"
STATUS_MAP: Final = {"submitted": "accepted", "delivered": "delivered", "read": "delivered",
                     "rejected": "rejected", "undeliverable": "failed"}
TTL_EXPIRED: Final = "1360"  # "TTL was activated" (the Messages error list)
_CODE_IN_TYPE: Final = re.compile(r"#(\d+)$")


def verify_bearer(authorization: str, body: bytes, secret: str, leeway_s: float,
                  now: float) -> dict[str, Any]:
    """The claims of the webhook's JWT; :class:`SignatureRejectedError` (401) when it is missing,
    wrongly signed, issued after ``now`` + ``leeway_s``, or hashes another body."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SignatureRejectedError("missing Authorization: Bearer JWT")
    try:  # `iat` against the receiver's clock below (PyJWT would read the system's)
        claims: dict[str, Any] = jwt.decode(token.strip(), secret, algorithms=["HS256"], leeway=leeway_s,
                                            options={"verify_iat": False})
    except jwt.InvalidTokenError:
        raise SignatureRejectedError("JWT invalid or not signed with the signature secret") from None
    issued = claims.get("iat")
    if issued is not None and (not isinstance(issued, int | float) or issued > now + leeway_s):
        raise SignatureRejectedError("JWT iat is not a time, or in the future")
    claimed = claims.get("payload_hash")
    if claimed is not None and not hmac.compare_digest(
            str(claimed).lower().encode("ascii", "replace"), hashlib.sha256(body).hexdigest().encode()):
        raise SignatureRejectedError("payload_hash does not match the body")
    return claims


def _text(value: Any) -> str:
    """A scalar as text (numbers kept as sent, read with ``exact_numbers``); anything else empty."""
    return value if isinstance(value, str) else ""


def _number(value: Any) -> str:
    """``to``/``from``: a string, or the ``number`` of a v0.1 object."""
    return _text(value.get("number")) if isinstance(value, Mapping) else _text(value)


def error_code(error: Any) -> str:
    """The Messages error code of ``error`` (``title``, else ``#NNNN`` at the end of ``type``)."""
    if not isinstance(error, Mapping):
        return ""
    title = _text(error.get("title")).strip()
    if title.isdigit():
        return title
    found = _CODE_IN_TYPE.search(_text(error.get("type")))
    return found.group(1) if found else ""


def receipt_fields(body: Mapping[str, Any], received_at: float) -> dict[str, str]:
    """A webhook's body as the stream fields the correlator reads (those of a Vonage DLR)."""
    raw = _text(body["status"]).strip().lower()
    code = error_code(body.get("error"))
    status = "expired" if raw == "rejected" and code == TTL_EXPIRED else STATUS_MAP.get(raw, raw)
    usage, destination = body.get("usage"), body.get("destination")
    fields = {
        "messageId": _text(body["message_uuid"]),
        "status": status,
        "err-code": code or ("0" if status == "delivered" else ""),
        "msisdn": _number(body.get("to")).removeprefix("+"),
        "to": _number(body.get("from")),
        "client-ref": _text(body.get("client_ref")),
        "price": _text(usage.get("price")) if isinstance(usage, Mapping) else "",
        "network-code": _text(destination.get("network_code")) if isinstance(destination, Mapping) else "",
        "route": "messages",
        "messages-status": raw,
        RECEIVED_AT_FIELD: f"{received_at:.6f}",
    }
    return {name: value for name, value in fields.items() if value}


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The webhook's JSON object, with ``message_uuid`` and ``status``; else 400/415."""
    if media_type(content_type) not in (None, JSON_TYPE):
        raise UnsupportedMediaTypeError("Messages API webhooks are JSON")
    try:
        data = read_json(body, exact_numbers=True)
    except JsonBodyError as exc:
        raise MalformedReceiptError(exc.reason) from None
    if not isinstance(data, dict):
        raise MalformedReceiptError("JSON body is not an object")
    for name in ("message_uuid", "status"):
        if not _text(data.get(name)).strip():
            raise MalformedReceiptError(f"missing {name}")
    try:
        "".join(str(value) for value in data.values()).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedReceiptError("JSON body is not valid Unicode") from None
    return data


class MessagesStatus:
    """The checks; the receiver (:mod:`webhook.app`) calls :meth:`check` on the body, then pushes
    the entry and answers."""

    def __init__(self, settings: Settings, queue: ResultQueue,
                 clock: Callable[[], float] = time.time) -> None:
        self._secret = settings.signature_secret
        self._leeway = float(settings.signature_window_s)
        self._queue = queue
        self._clock = clock
        self._log = get_logger("webhook.messages")

    def check(self, body: bytes, content_type: str | None, authorization: str) -> Entry:
        """The stream entry of a signed, complete webhook; else a :class:`ReceiptError` (4xx)."""
        claims: dict[str, Any] = {}
        if self._secret is not None:
            try:
                claims = verify_bearer(authorization, body, self._secret, self._leeway, self._clock())
            except SignatureRejectedError as exc:
                self._log.info("messages_webhook_rejected", reason=exc.reason)
                raise
        data = parse_body(body, content_type)
        fields = receipt_fields(data, self._clock())
        keys = [f"messages:{fields['messageId']}:{fields['messages-status']}"]
        if isinstance(claims.get("jti"), str) and claims["jti"]:
            keys.append(f"jwt:{claims['jti']}")
        return self._queue.entry(fields, keys)

    def unavailable(self, exc: Exception) -> None:
        """Log that the webhook could not be queued (the receiver answers 503; Vonage retries)."""
        self._log.warning("receipt_queue_unavailable", error=type(exc).__name__)
