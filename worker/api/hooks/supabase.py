"""``POST /v1/hooks/supabase/send-sms``: Supabase Auth's Send SMS Hook (docs/auth-servers.md).

Supabase posts ``{"user": {"id", "phone", ...}, "sms": {"otp", "phone", "sms_type"?},
"metadata": {...}}`` (fields this hook does not use are accepted) signed with Standard Webhooks.
The signature is checked before anything else (:mod:`.standard`): a call that is not signed by
a secret of ``PINRELAY_SUPABASE_HOOK_SECRET`` sends nothing. Then ``sms.otp`` goes to
``sms.phone`` (E.164 digits without ``+``; on a phone change the new number, on an MFA challenge
the factor's), else ``user.phone``, through the producer (:mod:`.sender`) under the identity
``supabase``, with ``client_ref`` the Supabase user id; a retry of the same code to the same
user and number within :data:`~worker.constants.SUPABASE_DEDUP_WINDOW_S` sends nothing more.

Answers, as Supabase reads them (``hookshttp.go``, ``hookserrors.go`` in supabase/auth):

=======================================  ==================================================
200 ``{}``                               sent (or a retry of a sent code): success
200 ``{"error": {"http_code": N,         refused, nothing sent: Supabase fails the user's
"message"}}``                            request with status N and the message. N is 400 (a
                                         number or code the send path refuses), 429 (an abuse
                                         limit, this hook's request rate) or 503 (Redis did not
                                         answer). Never a 429/503 with ``Retry-After``, which
                                         Supabase retries at once
401 (no signature, a bad or stale one)   Supabase: 500 "Hook requires authorization token"
400 (not JSON, ``sms.otp`` missing ...)  Supabase: 500 "Invalid payload sent to hook"
404 (``PINRELAY_SUPABASE_HOOK_SECRET``   Supabase: 500 "Unexpected status code returned from
unset)                                   hook: 404"
=======================================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import redis

from webhook.http.answers import Answer
from webhook.http.core import Request
from worker import constants as c
from worker.api.auth import KeyAuth
from worker.api.errors import InvalidRequest, NotFound, RateLimited
from worker.api.hooks.sender import HookSend, HookSender
from worker.api.hooks.standard import StandardWebhooks
from worker.api.http import json_object, response
from worker.config import Settings
from worker.enqueue.request import validate_client_ref
from worker.errors import AbuseLimitError, GuardBlockedError, StoreUnavailableError, ValidationError
from worker.logs import get_logger

IDENTITY: Final = "supabase"  # its rate limit (and, with the pumping guard, its quotas)
UNAVAILABLE: Final = "pinrelay could not store the send (its Redis did not answer); nothing was sent"


def refusal(http_code: int, message: str) -> Answer:
    """A refusal as Supabase shows it to the user: a 200 carrying the error object."""
    return response(200, {"error": {"http_code": http_code, "message": message}})


@dataclass(frozen=True, slots=True)
class SupabaseSms:
    """What the hook reads of Supabase's body; the rest is accepted and ignored."""

    otp: str
    phone: str  # sms.phone, else user.phone; "" when neither has one
    user_id: str | None


def _text(value: Any, name: str) -> str:
    """An optional string field (null or absent: ""); 400 for any other type."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"{name}: must be a string")
    return value


def _object(data: dict[str, Any], name: str, *, required: bool) -> dict[str, Any]:
    value = data.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{name}: must be an object")
    return value


def read_sms(data: dict[str, Any]) -> SupabaseSms:
    """Supabase's body -> :class:`SupabaseSms`; 400 when it is not the Send SMS Hook's shape."""
    sms = _object(data, "sms", required=True)
    user = _object(data, "user", required=False)
    if not isinstance(sms.get("otp"), str):
        raise InvalidRequest("sms.otp: must be a string (the code to send)")
    sms_phone, user_phone = _text(sms.get("phone"), "sms.phone"), _text(user.get("phone"), "user.phone")
    return SupabaseSms(sms["otp"], sms_phone or user_phone, _text(user.get("id"), "user.id") or None)


class SupabaseHook:
    """The handler; off (404) without ``PINRELAY_SUPABASE_HOOK_SECRET``."""

    def __init__(self, settings: Settings, sender: HookSender, auth: KeyAuth) -> None:
        secret = settings.supabase_hook_secret
        self._signatures = StandardWebhooks(secret) if secret else None
        self._secret = (secret or "").encode()
        self._sender = sender
        self._auth = auth
        self._log = get_logger("pinrelay.api.hooks")

    def send_sms(self, request: Request) -> Answer:
        if self._signatures is None:
            raise NotFound("the Supabase hook is off: set PINRELAY_SUPABASE_HOOK_SECRET")
        self._signatures.verify(request.body, request.header)
        sms = read_sms(json_object(request))
        try:
            self._auth.identity(request, IDENTITY)
            self._sender.send(self._send(sms), secret=self._secret, window_s=c.SUPABASE_DEDUP_WINDOW_S)
        except RateLimited as exc:
            return self._refused(429, exc.message)
        except AbuseLimitError as exc:  # before ValidationError: it is one
            return self._refused(403 if isinstance(exc, GuardBlockedError) else 429, str(exc))
        except ValidationError as exc:
            return self._refused(400, str(exc))
        except (StoreUnavailableError, redis.RedisError) as exc:
            self._log.warning("hook_store_unavailable", kind=IDENTITY, error=f"{type(exc).__name__}: {exc}")
            return self._refused(503, UNAVAILABLE)
        return response(200, {})

    @staticmethod
    def _send(sms: SupabaseSms) -> HookSend:
        if not sms.phone:
            raise ValidationError("to", "no number: sms.phone and user.phone are both empty")
        try:
            client_ref = validate_client_ref(sms.user_id)
        except ValidationError as exc:
            raise ValidationError("user.id", exc.message) from None
        return HookSend(IDENTITY, sms.phone, sms.otp, client_ref, scope=sms.user_id or "")

    def _refused(self, http_code: int, message: str) -> Answer:
        self._log.info("hook_refused", kind=IDENTITY, http_code=http_code, reason=message)
        return refusal(http_code, message)
