"""``/v1/verifications``: the verify flow (:class:`worker.verify.service.Verifier`) over HTTP.

``POST /v1/verifications`` starts one (a code is generated and sent), ``…/check`` compares a
code (200 whatever the outcome: ``status`` says it), ``…/resend`` sends a new code for the
same verification, ``GET`` reads its state. An unknown (or expired and gone) id is 404; a
resend the verification refuses (it ended, or every send is used) is 409 ``resend_refused``.
With a ``callback_url``, the verification is POSTed there once it ends (approved, locked
or expired), the same way a send's record is (:mod:`worker.callbacks`).
"""

from __future__ import annotations

from typing import Any, Final

import redis

from webhook.http.answers import Answer
from webhook.http.core import Request
from worker import constants as c
from worker.api.errors import InvalidRequest, NotFound, ResendRefused
from worker.api.http import fields, json_object, response, string_field
from worker.callbacks.watch import VERIFICATION
from worker.enqueue.producer import CALLBACK_FIELD, Producer
from worker.errors import StoreUnavailableError
from worker.verify.errors import ResendRefusedError
from worker.verify.service import Verifier

CODE_MAX: Final = 10


def whole_number(name: str, value: Any) -> int | None:
    """An integer field: JSON Schema counts ``7.0`` as the integer 7, so it is one here too."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{name}: must be a whole number", status=422)
    return value


class Verifications:
    def __init__(self, producer: Producer, verifier: Verifier | None = None) -> None:
        self._producer = producer
        self._verifier = verifier or Verifier.for_producer(producer)

    def start(self, request: Request) -> Answer:
        data = fields(json_object(request), required=("to",),
                      optional=("client_ref", "callback_url", "length", "ttl"))
        for name in ("client_ref", "callback_url"):
            string_field(data, name)
        for name in ("length", "ttl"):
            data[name] = whole_number(name, data[name])
        key_id = request.key_id
        url = self._producer.check_callback_url(data["callback_url"], key_id=key_id) \
            if data["callback_url"] else None
        verification_id = self._verifier.start(data["to"], data["client_ref"], data["length"], data["ttl"],
                                               origin=request.key_id)
        if url is not None:
            self._watch(verification_id, url, key_id)
        return response(202, {"id": verification_id}, [("Location", f"/v1/verifications/{verification_id}")])

    def _watch(self, verification_id: str, url: str, key_id: str | None) -> None:
        prefix = self._producer.settings.key_prefix
        fields = {CALLBACK_FIELD: url, **({c.CALLBACK_KEY_FIELD: key_id} if key_id else {})}
        try:
            pipe = self._producer.redis.pipeline(transaction=True)
            pipe.hset(f"{prefix}{VERIFICATION.record_key}{verification_id}", mapping=fields)
            pipe.zadd(VERIFICATION.watch_key(prefix), {verification_id: 0})
            pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailableError(f"cannot register the callback: {exc}") from exc

    def check(self, request: Request) -> Answer:
        data = fields(json_object(request), required=("code",))
        code = string_field(data, "code", code="invalid_code")
        if code is None or not 1 <= len(code) <= CODE_MAX or not (code.isascii() and code.isdigit()):
            raise InvalidRequest(f"code: must be 1-{CODE_MAX} digits", code="invalid_code", status=422)
        result: dict[str, Any] = self._verifier.check(request.params["id"], code)
        if result.get("status") == "unknown":
            raise NotFound("no such verification (never started, or expired and gone)")
        return response(200, result)

    def resend(self, request: Request) -> Answer:
        if json_object(request, optional=True):
            raise InvalidRequest("a resend takes no fields", status=422)
        try:
            verification_id = self._verifier.resend(request.params["id"], origin=request.key_id)
        except ResendRefusedError as exc:
            raise ResendRefused(str(exc)) from None
        return response(202, {"id": verification_id})

    def read(self, request: Request) -> Answer:
        return response(200, self._verifier.get(request.params["id"]))
