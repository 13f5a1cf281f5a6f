"""The admin routes of the pumping guard: ``pinrelay guard status|unblock|allow`` over HTTP.

Only an admin key reaches them (:data:`worker.api.app.ADMIN`; an ordinary key gets 403). The
input rules and the Redis changes are :mod:`worker.guard.admin`'s, the same as the CLI's.

===========================  ==========================================================
``GET /v1/guard``            200 the status (``pinrelay guard status``)
``POST /v1/guard/unblock``   ``{"prefix"}``: 200 what was lifted; 404 when not blocked
``POST /v1/guard/allow``     ``{"entry", "remove"?}``: 200 ``{"entry", "safe", ...}``;
                             404 for ``remove`` of an entry not on the list
===========================  ==========================================================
"""

from __future__ import annotations

from typing import Any

from webhook.http.answers import Answer
from webhook.http.core import Request
from worker.api.errors import InvalidRequest, NotFound
from worker.api.http import fields, json_object, response
from worker.config import Settings
from worker.guard.admin import NotListedError, allow, clean_entry, disallow, unblock
from worker.guard.limits import Limits
from worker.guard.status import guard_status


class GuardAdmin:
    def __init__(self, settings: Settings, client: Any) -> None:
        self._client = client
        self._prefix = settings.key_prefix
        self._limits = Limits.from_settings(settings)

    def status(self, request: Request) -> Answer:
        return response(200, guard_status(self._client, self._prefix, self._limits))

    def unblock(self, request: Request) -> Answer:
        data = fields(json_object(request), required=("prefix",))
        target = clean_entry(_text(data, "prefix"), "prefix")
        try:
            return response(200, unblock(self._client, self._prefix, target))
        except NotListedError as exc:
            raise NotFound(str(exc)) from None

    def allow(self, request: Request) -> Answer:
        data = fields(json_object(request), required=("entry",), optional=("remove",))
        entry = clean_entry(_text(data, "entry"), "entry")
        remove = data["remove"]
        if remove is not None and not isinstance(remove, bool):
            raise InvalidRequest("remove: must be true or false", status=422)
        try:
            change = disallow if remove else allow
            return response(200, change(self._client, self._prefix, entry))
        except NotListedError as exc:
            raise NotFound(str(exc)) from None


def _text(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise InvalidRequest(f"{name}: must be a string of digits", code="invalid_prefix", status=422)
    return value
