"""The provider client of the short-code 2FA route, and the names it always exported.

Since routes (:mod:`worker.send.routes`), the pieces live where they belong: the
session and the "did the request leave?" rule in :mod:`worker.send.transport`, the
Vonage answer rules and status table in :mod:`worker.send.routes.vonage`, the 2FA
form in :mod:`worker.send.routes.sc2fa`. :class:`ProviderClient` is the shared
transport plus ``submit`` on the 2FA route, as before; this module decides *what
happened* and never retries (:mod:`worker.send.retry` does).
"""

from __future__ import annotations

from worker.enqueue.request import SendRequest
from worker.send.routes.base import Accepted
from worker.send.routes.sc2fa import Sc2faRoute
from worker.send.routes.vonage import (
    STATUS_NAMES,
    TRANSIENT_STATUSES,
    classify_status,
    parse_response,
    retry_after_s,
    throttle_wait_s,
)
from worker.send.transport import USER_AGENT, Transport, new_session

__all__ = [
    "Accepted",
    "ProviderClient",
    "STATUS_NAMES",
    "TRANSIENT_STATUSES",
    "USER_AGENT",
    "classify_status",
    "new_session",
    "parse_response",
    "retry_after_s",
    "throttle_wait_s",
]


class ProviderClient(Transport):
    """The shared HTTP session (every route sends through it) that also speaks 2FA."""

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        """POST one 2FA request; raise a provider error unless status "0" came back."""
        return Sc2faRoute(self._settings, self).submit(request, client_ref)
