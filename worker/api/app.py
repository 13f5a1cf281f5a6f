"""The HTTP producer API: its route table and handlers, an app on the HTTP core (:mod:`webhook.http`).

==========================================  =========================================
request (``Authorization: Bearer KEY``)     answer
==========================================  =========================================
POST /v1/pins                               202 ``{"id"}``; ``Idempotency-Key`` repeats
                                            answer the first id, nothing sent again
GET  /v1/pins/{id}                          200 the record (``pinrelay status``); 404
POST /v1/verifications                      202 ``{"id"}``
POST /v1/verifications/{id}/check           200 ``{"id", "status", "attempts_left"}``
POST /v1/verifications/{id}/resend          202 ``{"id"}``
GET  /v1/verifications/{id}                 200 the verification; 404
GET  /v1/guard (admin key)                  200 ``pinrelay guard status``; 403 for another key
POST /v1/guard/unblock (admin key)          200 what was lifted; 404 when not blocked
POST /v1/guard/allow (admin key)            200 ``{"entry", "safe"}``; ``remove`` takes it off
------------------------------------------  -----------------------------------------
POST /v1/hooks/supabase/send-sms            200 ``{}``, or 200 ``{"error": {"http_code",
(Standard Webhooks signature, no key)       "message"}}`` as Supabase reads a refusal
                                            (:mod:`worker.api.hooks.supabase`)
POST /v1/hooks/generic/send-sms             202 ``{"id"}`` (:mod:`worker.api.hooks.generic`)
(a key, or ``ZITADEL-Signature``)
------------------------------------------  -----------------------------------------
GET  /openapi.json (no key)                 the OpenAPI 3.1 document
GET  /healthz, /readyz (no key)             200 ``{"status", "redis"}``; readyz 503
GET  /metrics (no key)                      Prometheus exposition text
==========================================  =========================================

Every error is ``{"error": {"code", "message"}}`` (:mod:`worker.api.errors`): 401 with
``WWW-Authenticate: Bearer``, 403 for an ordinary key on an admin route, 404 for an unknown
path, 405 with ``Allow``, 408 for a body that did not arrive within
``PINRELAY_WEBHOOK_BODY_TIMEOUT``, 429 with ``Retry-After``, 503 while Redis is down, and 500
``internal_error`` for anything unexpected (logged with its traceback, which never reaches the
answer).

Every handler blocks (Redis, the producer, the verifier): the core reads a POST's body on its
event loop under the deadline, then runs authentication and the handler on its bounded thread
pool, so a client stalling mid-body holds no thread. A route is one row of the table below and
a handler.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Mapping
from typing import Final

import redis

from webhook.http.answers import Answer, raw_answer
from webhook.http.core import Request
from webhook.http.errors import HttpError
from webhook.http.metrics import metrics_answer
from webhook.http.routing import Endpoint, Router
from worker import constants as c
from worker.api import metrics, openapi
from worker.api.auth import KeyAuth
from worker.api.errors import FIELD_CODES, ApiError, Forbidden, core_refusal
from worker.api.http import error_response, response
from worker.api.keys import ApiKeys
from worker.config import Settings
from worker.errors import (
    AbuseLimitError,
    ConfigError,
    GuardBlockedError,
    NumberTypeRefusedError,
    QuotaExceededError,
    StoreUnavailableError,
    UnknownRequestError,
    ValidationError,
)
from worker.logs import get_logger

Handler = Callable[[Request], Answer]
ADMIN: Final = "admin"  # a route only an admin key may use (`keys create --admin`)
# Retry-After for each abuse limit: when the window that refused it has surely moved on.
LIMIT_RETRY_S: Final = {"prefix_minute": 60, "number_10min": 600, "number_day": 86400, "denylist": 86400}
INTERNAL: Final = error_response(500, "internal_error", "internal error")
NOT_FOUND: Final = error_response(404, "not_found", "no such path")
UNAVAILABLE_RETRY_S: Final = 1


def not_allowed(allow: str) -> Answer:
    return error_response(405, "method_not_allowed", f"use {allow}", [("Allow", allow)])


class Api:
    """The API as an :class:`~webhook.http.core.HttpApp`; build it with :func:`worker.api.rsgi.build_app`."""

    def __init__(self, settings: Settings, client: redis.Redis, keys: ApiKeys,
                 handlers: Mapping[str, Handler]) -> None:
        self._settings = settings
        self._client = client
        self._auth = KeyAuth(keys, settings.api_rate_per_key)
        self.body_limit = settings.api_body_limit_bytes
        self._log = get_logger("pinrelay.api")
        h = {**handlers, "openapi": self._openapi, "healthz": self._healthz, "readyz": self._readyz,
             "metrics": self._metrics}
        table: list[tuple[str, dict[str, tuple[str, bool | str]]]] = [
            ("/v1/pins", {"POST": ("pins.create", True)}),
            ("/v1/pins/{id}", {"GET": ("pins.read", True)}),
            ("/v1/verifications", {"POST": ("verifications.start", True)}),
            ("/v1/verifications/{id}", {"GET": ("verifications.read", True)}),
            ("/v1/verifications/{id}/check", {"POST": ("verifications.check", True)}),
            ("/v1/verifications/{id}/resend", {"POST": ("verifications.resend", True)}),
            # the hooks authenticate themselves: a signature, or (generic) a key
            ("/v1/hooks/supabase/send-sms", {"POST": ("hooks.supabase", False)}),
            ("/v1/hooks/generic/send-sms", {"POST": ("hooks.generic", False)}),
            ("/v1/guard", {"GET": ("guard.status", ADMIN)}),
            ("/v1/guard/unblock", {"POST": ("guard.unblock", ADMIN)}),
            ("/v1/guard/allow", {"POST": ("guard.allow", ADMIN)}),
            ("/openapi.json", {"GET": ("openapi", False)}),
            ("/healthz", {"GET": ("healthz", False)}),
            ("/readyz", {"GET": ("readyz", False)}),
            ("/metrics", {"GET": ("metrics", False)}),
        ]
        # Supabase sends the whole user object: its own, larger limit (see the constant)
        limits = {"hooks.supabase": max(self.body_limit, c.SUPABASE_HOOK_BODY_LIMIT_BYTES)}
        self.router = Router(
            [(path, {method: Endpoint(functools.partial(self._run, h[name], auth), blocking=True,
                                      body=method == "POST", body_limit=limits.get(name, 0))
                     for method, (name, auth) in methods.items()})
             for path, methods in table],
            not_found=NOT_FOUND, not_allowed=not_allowed,
        )

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        pass  # nothing runs beside the core's thread pool

    def close(self) -> None:
        pass

    def refused(self, exc: HttpError) -> Answer:
        refusal = core_refusal(exc)
        return error_response(refusal.status, refusal.code, refusal.message, refusal.headers)

    def internal_error(self, method: str, path: str) -> Answer:
        self._log.exception("api_internal_error", path=path, method=method)
        return INTERNAL

    def observe(self, label: str, answer: Answer) -> None:
        metrics.REQUESTS.labels(route=label, status=str(answer[0])).inc()

    def _run(self, handler: Handler, needs_key: bool | str, request: Request) -> Answer:
        """The handler's answer, with every expected refusal turned into its error answer.
        ``needs_key``: False (open), True (any live key) or :data:`ADMIN`."""
        try:
            if needs_key:
                verdict = self._auth.verdict(request)
                if needs_key == ADMIN and not verdict.admin:
                    raise Forbidden("this route needs an admin key (pinrelay keys create NAME --admin)")
            return handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.headers)
        except (QuotaExceededError, GuardBlockedError) as exc:  # the pumping guard's refusals
            retry = max(1, math.ceil(exc.retry_after_s or 1))
            return error_response(exc.http_status, exc.code, str(exc), [("Retry-After", str(retry))])
        except AbuseLimitError as exc:
            retry = LIMIT_RETRY_S.get(exc.limit, 3600)
            return error_response(429, "limit_exceeded", str(exc), [("Retry-After", str(retry))])
        except NumberTypeRefusedError as exc:
            return error_response(422, exc.code, str(exc))
        except ValidationError as exc:
            return error_response(422, FIELD_CODES.get(exc.field, "invalid_request"), str(exc))
        except UnknownRequestError:
            return error_response(404, "not_found", "no such id (never created, or expired)")
        except ConfigError as exc:  # e.g. no PINRELAY_VERIFY_SECRET: the message names the variable
            self._log.error("api_not_configured", error=str(exc))
            return error_response(503, "unavailable", f"not configured: {exc}",
                                  [("Retry-After", str(UNAVAILABLE_RETRY_S))])
        except (StoreUnavailableError, redis.RedisError) as exc:
            self._log.warning("api_store_unavailable", error=f"{type(exc).__name__}: {exc}")
            return error_response(503, "unavailable", "the store is unavailable; retry later",
                                  [("Retry-After", str(UNAVAILABLE_RETRY_S))])

    def _openapi(self, request: Request) -> Answer:
        return raw_answer(200, "application/json", openapi.document_bytes())

    def _ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def _healthz(self, request: Request) -> Answer:
        return response(200, {"status": "ok", "redis": self._ping()})

    def _readyz(self, request: Request) -> Answer:
        if self._ping():
            return response(200, {"status": "ok", "redis": True})
        return response(503, {"status": "unavailable", "redis": False})

    def _metrics(self, request: Request) -> Answer:
        return metrics_answer()
