"""``POST /v1/hooks/generic/send-sms``: a code (or a text with one) from any server that can POST.

Two ways to prove who calls, told apart by the headers:

* ``Authorization: Bearer <API key>`` (authentik's ``bearer`` auth type, or anything that can
  set a header): the key's identity and rate, as on ``/v1/pins``;
* a signature, ``ZITADEL-Signature`` (Zitadel's HTTP SMS provider) or ``X-Pinrelay-Signature``
  (the same scheme, for anything else): ``t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>``
  with the key ``PINRELAY_HOOK_SIGNING_KEY`` (Zitadel's ``signingKey``), a ``t`` within
  :data:`~worker.constants.HOOK_SIGNATURE_TOLERANCE_S` of now, under the identity
  ``signed-hook``. It is the scheme of pinrelay's own outcome callbacks
  (:mod:`worker.callbacks.signing`), checked by the same function.

The body is one of :mod:`.shapes`; the code goes through the producer (:mod:`.sender`). A
repeat of the same code to the same number by the same caller within
:data:`~worker.constants.GENERIC_DEDUP_WINDOW_S` (a server's retry, or a signed call replayed
while its ``t`` is still accepted) answers the first send's id and sends nothing. Answers are
the API's: 202 ``{"id"}`` (read it at ``GET /v1/pins/{id}``), its error codes otherwise.
"""

from __future__ import annotations

import re
import time
from typing import Final

from webhook.http.answers import Answer
from webhook.http.core import Request
from worker import constants as c
from worker.api.auth import BEARER, KeyAuth
from worker.api.errors import Unauthorized
from worker.api.hooks.sender import HookSend, HookSender
from worker.api.hooks.shapes import read_message
from worker.api.http import json_object, response
from worker.callbacks.signing import verify
from worker.config import Settings

IDENTITY: Final = "signed-hook"  # a signed caller's rate limit (and, with the pumping guard, quotas)
SIGNATURE_HEADERS: Final = ("zitadel-signature", "x-pinrelay-signature")
CHALLENGE: Final = (("WWW-Authenticate", BEARER),)


class GenericHook:
    """The handler."""

    def __init__(self, settings: Settings, sender: HookSender, auth: KeyAuth) -> None:
        self._key = settings.hook_signing_key
        self._pattern = re.compile(settings.hook_code_pattern, re.ASCII)
        self._sender = sender
        self._auth = auth

    def send_sms(self, request: Request) -> Answer:
        scope, secret = self._caller(request)
        message = read_message(json_object(request), self._pattern)
        send = HookSend("generic", message.to, message.code, message.client_ref, scope)
        request_id = self._sender.send(send, secret=secret, window_s=c.GENERIC_DEDUP_WINDOW_S)
        return response(202, {"id": request_id}, [("Location", f"/v1/pins/{request_id}")])

    def _caller(self, request: Request) -> tuple[str, bytes]:
        """Who calls (the de-duplication's scope) and the secret its keys are derived with: the
        presented API key, or the signing key. 401 for neither; 429 over the caller's rate."""
        signature = next((value for name in SIGNATURE_HEADERS if (value := request.header(name))), None)
        if signature is None:
            token = self._auth.bearer_token(request)
            return self._auth.bearer(request), token.encode()
        if self._key is None:
            raise Unauthorized("signed calls are off (PINRELAY_HOOK_SIGNING_KEY is not set): send "
                               "Authorization: Bearer <key>", headers=CHALLENGE)
        if not signature.isascii() or not verify(self._key, signature, request.body, time.time(),
                                                 c.HOOK_SIGNATURE_TOLERANCE_S):
            raise Unauthorized("the signature does not match PINRELAY_HOOK_SIGNING_KEY, or its t= is more "
                               f"than {c.HOOK_SIGNATURE_TOLERANCE_S} s from now", headers=CHALLENGE)
        self._auth.identity(request, IDENTITY)
        return IDENTITY, self._key.encode()
