"""Conversion reports (docs/provider-api.md §6): tell the provider a PIN was used, so it routes better.

Retried like a send (the same tenacity policy) on 5xx, 429 and network errors;
401/402/420/422/423 are permanent. Reporting twice is harmless, so unlike a
send a read timeout is retried too. The outcome is kept on the record.

A send that went out over a route whose provider has no Conversion API
(:data:`NO_CONVERSION_ROUTES`; the record's ``route`` field) is not reported: the
outcome says so. The verify flow reports every send this way and relies on that skip.

The form carries ``api_key`` and ``api_secret``; with ``PINRELAY_API_SIGNATURE_SECRET`` it is
signed instead, as the v4 SDK signs it (docs/provider-routes.md §F): ``sig`` with
``PINRELAY_API_SIGNATURE_METHOD`` over ``api_key``, ``message-id``, ``delivered`` and the
conversion's date-time ``timestamp`` (the SDK signs that string as the signing time), so an
account where signing is compulsory takes it. The session is the 2FA client's
(:func:`worker.send.transport.new_session`): no proxy or ``.netrc`` from the
environment, and a redirect is a permanent error, never followed.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any, Final

import requests

from worker.config import Settings
from worker.errors import PermanentProviderError, TransientProviderError, UnknownRequestError
from worker.send.retry import build_retrying
from worker.send.routes.vonage import retry_after_s
from worker.send.transport import new_session
from worker.signing import sign

# Twilio has no Conversion API; its counterpart, Message Feedback (docs/provider-routes.md
# §B.6), is not implemented, so a send that went out over Twilio is not reported at all. Vonage
# documents conversions for SMS API message ids; a Messages API message_uuid is not one (§F).
NO_CONVERSION_ROUTES: Final = frozenset({"twilio", "messages"})
# A conversion for a send still queued or being sent (the verify flow reports as soon as the
# user typed the code, which can beat the worker's recording of the acceptance) waits for
# its message-id: the task comes back this often, this many times, before reporting anyway.
WAIT_FOR_SEND_S: Final = 1.0
WAIT_FOR_SEND_TRIES: Final = 120


def send_in_flight(store: Any, request_id: str) -> bool:
    """The send has no message-id yet but may still get one (queued or sending)."""
    record = store.get_raw(request_id)
    return bool(record) and not record.get("message_id") and record.get("state") in ("queued", "sending")

_sessions: dict[int, requests.Session] = {}  # one per process (never shared across a fork)


def _session() -> requests.Session:
    session = _sessions.get(os.getpid())
    if session is None:
        session = _sessions[os.getpid()] = new_session()
    return session


def _post(services: Any, form: dict[str, str]) -> None:
    settings = services.settings
    try:
        response = _session().post(
            settings.conversion_endpoint,
            data=form,
            timeout=(settings.connect_timeout_s, settings.read_timeout_s),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise TransientProviderError(f"conversion call failed: {type(exc).__name__}") from None
    code = response.status_code
    if 200 <= code < 300:
        return
    if 300 <= code < 400:
        raise PermanentProviderError(
            f"HTTP {code}: the conversion endpoint answered with a redirect; not followed "
            "(the request carries api_secret): fix PINRELAY_CONVERSION_URL", http_status=code,
        )
    if code == 429:
        raise TransientProviderError(
            "HTTP 429", http_status=code, retry_after=retry_after_s(response.headers.get("Retry-After"))
        )
    if code >= 500:
        raise TransientProviderError(f"HTTP {code}", http_status=code)
    reasons = {401: "bad credentials", 402: "conversions not enabled for this account",
               420: "invalid parameters", 422: "invalid parameters", 423: "invalid parameters"}
    raise PermanentProviderError(f"HTTP {code}: {reasons.get(code, 'refused')}", http_status=code)


def conversion_form(settings: Settings, message_id: str, *, delivered: bool,
                    when: datetime) -> dict[str, str]:
    """The conversion's form: with the key and secret, or signed (``sig``) as the v4 SDK signs it."""
    form = {
        "api_key": settings.api_key,
        "message-id": message_id,
        "delivered": "true" if delivered else "false",
        "timestamp": when.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if settings.api_signature_secret:
        form["sig"] = sign(form, settings.api_signature_secret, settings.api_signature_method)
    else:
        form["api_secret"] = settings.api_secret
    return form


def report(services: Any, request_id: str, *, delivered: bool = True, at: float | None = None) -> str:
    """POST the conversion for ``request_id``'s message-id; record and return the outcome."""
    store, log = services.store, services.log.bind(request_id=request_id)
    record = store.get_raw(request_id)
    if not record:
        raise UnknownRequestError(request_id)
    route = record.get("route")
    if route in NO_CONVERSION_ROUTES:
        outcome = f"skipped: the {route} route has no conversion API"
        store.update_fields(request_id, {"conversion_status": outcome})
        log.info("conversion_skipped", reason=outcome)
        return outcome
    message_id = record.get("message_id")
    if not message_id:
        outcome = "skipped: no message-id (the send was never accepted)"
        store.update_fields(request_id, {"conversion_status": outcome})
        log.info("conversion_skipped", reason=outcome)
        return outcome
    when = datetime.fromtimestamp(at if at is not None else time.time(), tz=UTC)
    settings = services.settings
    form = conversion_form(settings, message_id, delivered=delivered, when=when)
    try:
        build_retrying(settings)(_post, services, form)
        outcome = "reported" if delivered else "reported-undelivered"
    except (TransientProviderError, PermanentProviderError) as exc:
        outcome = f"failed: {exc}"
    store.update_fields(
        request_id, {"conversion_status": outcome, "conversion_at": f"{time.time():.3f}"}
    )
    log.info("conversion_reported", message_id=message_id, outcome=outcome)
    return outcome
