"""The Vonage Messages API route (docs/provider-routes.md §E): ``POST {PINRELAY_MESSAGES_URL}/v1/messages``.

The route Vonage recommends for SMS now. A JSON body: ``channel`` ``sms``, ``message_type``
``text``, ``to``, ``from`` = ``PINRELAY_SMS_FROM``, ``text`` from the SMS template (with the
autofill lines), ``client_ref`` (echoed in every status webhook), ``ttl``: what is left of
the PIN's lifetime in seconds (20..604800, §V; the default is 72 h), and, with
``PINRELAY_MESSAGES_STATUS_URL``, ``webhook_url`` + ``webhook_version`` ``v1`` (else the
application's status URL is used). The status webhooks come to ``/messages-status-webhook``
(``webhook/messages/status.py``) and find the send by its ``message_uuid``.

Authentication (§E.2): with ``PINRELAY_VONAGE_APPLICATION_ID`` a fresh RS256 JWT per call,
signed with the application's private key (``PINRELAY_VONAGE_PRIVATE_KEY``, loaded once at
worker start): ``application_id``, ``iat``, ``jti`` and ``exp`` 15 minutes on, as
``vonage_jwt`` makes it (PyJWT with ``cryptography``); without one, Basic auth with
``PINRELAY_API_KEY``/``PINRELAY_API_SECRET``.

Answers (§E.3), read into the one failover table (:mod:`worker.send.failover`):

==================================  ========================================  ==============
answer                              error (``provider_status``)               whose fault
==================================  ========================================  ==============
202 ``{"message_uuid"}``            accepted                                  (none)
2xx without a ``message_uuid``      unconfirmed (the message may exist)       unconfirmed
401, 403, 404, 405                  permanent (``401`` ...)                   the route's
402 (low balance)                   permanent ``402``                         the route's
422 naming ``to``                   permanent ``422-to``                      the number's
422 naming ``from``                 permanent ``422-from``                    the route's
422 otherwise, any other 4xx        permanent ``422`` / HTTP status           the request's
429                                 transient ``429``, its ``Retry-After``    throttled
502, 504                            unconfirmed (a gateway may have sent it)  unconfirmed
other 5xx                           transient                                 transient
==================================  ========================================  ==============
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import (
    ConfigError,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnconfirmedSendError,
)
from worker.send.routes.base import (
    GATEWAY_STATUSES,
    MESSAGES_STATUS,
    Accepted,
    Blame,
    HttpCall,
    blame_by_code,
    validity_s,
)
from worker.send.routes.templates import Templates
from worker.send.routes.vonage import retry_after_s
from worker.send.transport import Transport

MESSAGES_PATH: Final = "/v1/messages"
TTL_RANGE_S: Final = (20, 604_800)  # `ttl`, seconds (vonage_messages/models/sms.py)
JWT_LIFETIME_S: Final = 15 * 60  # vonage_jwt's `exp`
#: a `to` the API refuses: no route helps (only this destination is concerned)
NUMBER_CODES: Final = frozenset({"422-to"})
#: credentials, application, balance, the sender, a wrong host or path
ROUTE_CODES: Final = frozenset({"401", "402", "403", "404", "405", "422-from"})
THROTTLED_CODES: Final = frozenset({"429"})


def load_private_key(path: str) -> rsa.RSAPrivateKey:
    """The application's RSA private key (PEM, PKCS#8 or PKCS#1, unencrypted); ConfigError naming
    the variable when the file is not one."""
    where = f"PINRELAY_VONAGE_PRIVATE_KEY={path!r}"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{where}: must be an RSA key (the Messages API's JWTs are RS256)")
    return key


class MessagesRoute:
    """Builds the Messages API call, authenticates it, reads its answer."""

    name: Final = "messages"
    receipt_format: Final = MESSAGES_STATUS

    def __init__(self, settings: Settings, transport: Transport, templates: Templates) -> None:
        if not settings.sms_from:
            raise ValueError("the messages route needs settings.sms_from (checked at start)")
        self._settings = settings
        self._sender = settings.sms_from
        self._transport = transport
        self._templates = templates
        self._url = settings.messages_url + MESSAGES_PATH
        self._app_id = settings.vonage_application_id
        self._key = (load_private_key(settings.vonage_private_key)
                     if self._app_id and settings.vonage_private_key else None)

    def token(self, now: float | None = None) -> str:
        """A fresh application JWT (RS256), as ``vonage_jwt.JwtClient.generate_application_jwt``."""
        if self._key is None or not self._app_id:
            raise ValueError("no application configured (Basic auth)")
        issued = int(time.time() if now is None else now)
        claims = {"application_id": self._app_id, "iat": issued, "jti": str(uuid.uuid4()),
                  "exp": issued + JWT_LIFETIME_S}
        return jwt.encode(claims, self._key, algorithm="RS256")

    def build(self, request: SendRequest, client_ref: str | None) -> HttpCall:
        body: dict[str, Any] = {
            "channel": "sms", "message_type": "text", "to": request.to, "from": self._sender,
            "text": self._templates.render(request.to, request.pin),
        }
        if client_ref:
            body["client_ref"] = client_ref
        validity = validity_s(request, *TTL_RANGE_S)
        if validity is not None:
            body["ttl"] = validity
        if self._settings.messages_status_url:
            body.update(webhook_url=self._settings.messages_status_url, webhook_version="v1")
        if self._key is not None:
            return HttpCall(self._url, {}, json=body, bearer=self.token())
        return HttpCall(self._url, {}, json=body, auth=(self._settings.api_key, self._settings.api_secret))

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        response, latency = self._transport.send(self.build(request, client_ref))
        return parse_answer(response, latency)

    def blame(self, exc: ProviderError) -> Blame:
        return blame_by_code(exc, number=NUMBER_CODES, route=ROUTE_CODES, throttled=THROTTLED_CODES)


def parse_answer(response: requests.Response, latency_s: float) -> Accepted:
    """202 with the ``message_uuid`` as :class:`Accepted`; else the provider error the answer means."""
    status = response.status_code
    body = _json(response)
    if 200 <= status < 300:
        message_uuid = body.get("message_uuid")
        if not isinstance(message_uuid, str) or not message_uuid:
            snippet = response.text[:80].replace("\n", " ")
            raise UnconfirmedSendError(f"unreadable Messages API answer (HTTP {status}): {snippet!r}",
                                       http_status=status)
        return Accepted(message_id=message_uuid, status=str(status), network=None, price=None,
                        remaining_balance=None, latency_s=latency_s)
    text = _problem_text(status, body)
    if status in GATEWAY_STATUSES:  # a gateway that may have forwarded it: the SMS may be out
        raise UnconfirmedSendError(f"{text} from a gateway (it may have forwarded it)", http_status=status)
    if status == 429:
        raise TransientProviderError(text, status="429", http_status=status,
                                     retry_after=retry_after_s(response.headers.get("Retry-After")))
    if status >= 500:
        raise TransientProviderError(text, http_status=status)
    raise PermanentProviderError(text, status=_code(status, body), http_status=status)


def _code(status: int, body: Mapping[str, Any]) -> str:
    """The error's code: the HTTP status, a 422 naming ``to`` or ``from`` told apart."""
    if status != 422:
        return str(status)
    names = {str(item.get("name", "")) for item in body.get("invalid_parameters") or ()
             if isinstance(item, Mapping)}
    for name in ("to", "from"):
        if name in names:
            return f"422-{name}"
    return "422"


def _problem_text(status: int, body: Mapping[str, Any]) -> str:
    """``Messages API HTTP 422: Invalid params: <detail> (to: <reason>)`` from an RFC 7807 body."""
    text = f"Messages API HTTP {status}"
    words = [str(body[name]) for name in ("title", "detail") if body.get(name)]
    if words:
        text += ": " + ": ".join(words)
    invalid = [f"{item.get('name')}: {item.get('reason')}" for item in body.get("invalid_parameters") or ()
               if isinstance(item, Mapping)]
    return text + (f" ({'; '.join(invalid)})" if invalid else "")


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
