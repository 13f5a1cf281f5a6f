"""``/v1/verifications``: the verify flow (``worker.start_verification`` and friends) over HTTP.

``POST /v1/verifications`` starts one (a code is generated and sent), ``…/check`` compares a
code (200 whatever the outcome: the ``status`` says it), ``…/resend`` sends a new code for
the same verification, ``GET`` reads its state. An unknown (or expired and gone) id is 404.
"""

from __future__ import annotations

from typing import Any

from worker.api.errors import NotFound
from worker.api.http import Request, Response, fields, response, string_field
from worker.config import Settings


class Verifications:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @staticmethod
    def _flow() -> Any:
        import worker  # the verify flow is part of the public Python API

        return worker

    def start(self, request: Request) -> Response:
        data = fields(request.json_object(), required=("to",),
                      optional=("client_ref", "callback_url", "length", "ttl"))  # fmt: skip
        for name in ("client_ref", "callback_url"):
            string_field(data, name)
        verification_id = self._flow().start_verification(
            data["to"], client_ref=data["client_ref"], length=data["length"], ttl=data["ttl"])
        return response(202, {"id": verification_id}, [("Location", f"/v1/verifications/{verification_id}")])

    def check(self, request: Request) -> Response:
        data = fields(request.json_object(), required=("code",))
        string_field(data, "code", code="invalid_code")
        result = self._flow().check_verification(request.params["id"], data["code"])
        if result.get("status") == "unknown":
            raise NotFound("no such verification (never started, or expired)")
        return response(200, result)

    def resend(self, request: Request) -> Response:
        request.json_object(optional=True)
        verification_id = self._flow().resend_verification(request.params["id"])
        return response(202, {"id": verification_id})

    def read(self, request: Request) -> Response:
        return response(200, self._flow().get_verification(request.params["id"]))
