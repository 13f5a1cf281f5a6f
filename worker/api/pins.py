"""``POST /v1/pins`` and ``GET /v1/pins/{id}``: :meth:`Producer.send_pin` and ``get_status`` over HTTP.

The body is checked for its shape here (fields, types) and for its meaning by the same
validation as every other producer (:class:`worker.enqueue.request.SendRequest`, the
callback URL policy, the abuse limits), so an invalid request is refused before anything
is stored or enqueued. The ``Idempotency-Key`` header is the producer's idempotency key:
a repeat answers with the first request's id and sends nothing.
"""

from __future__ import annotations

from typing import Any

from webhook.http.answers import Answer
from webhook.http.core import Request
from worker.api.errors import InvalidRequest
from worker.api.http import fields, idempotency_key, json_object, response, string_field
from worker.enqueue.producer import Producer


class Pins:
    def __init__(self, producer: Producer) -> None:
        self._producer = producer

    def create(self, request: Request) -> Answer:
        key = idempotency_key(request)
        data = fields(json_object(request), required=("to", "pin"),
                      optional=("client_ref", "callback_url", "expect_conversion"))
        for name in ("client_ref", "callback_url"):
            string_field(data, name)
        expect = data["expect_conversion"]
        if expect is not None and not isinstance(expect, bool):
            raise InvalidRequest("expect_conversion must be true or false", status=422)
        request_id = self._producer.send_pin(
            data["to"], data["pin"], data["client_ref"],
            idempotency_key=key, callback_url=data["callback_url"], callback_key=request.key_id,
            origin=request.key_id, expect_conversion=bool(expect),
        )
        return response(202, {"id": request_id}, [("Location", f"/v1/pins/{request_id}")])

    def read(self, request: Request) -> Answer:
        record: dict[str, Any] = self._producer.get_status(request.params["id"])
        return response(200, record)
