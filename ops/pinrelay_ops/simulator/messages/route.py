"""The Messages API route (docs/provider-routes.md §E): ``POST /v1/messages``, ``channel: sms``.

A JSON body, authenticated by an application's RS256 JWT or Basic auth (:mod:`.auth`).
A refused request gets an RFC 7807 problem (:mod:`.answers`): 401 for credentials, 422
listing every invalid field (:mod:`.checks`), 402 when the shared balance cannot pay for a
part. An accepted one is charged per part like the SMS API, answered 202 with a fresh
``message_uuid``, recorded (the JWT's claims and the parsed body included) and reported by
status webhooks (:mod:`.webhooks`).

Faults in this API's words: ``status:N`` is a problem with HTTP N (4xx/5xx; 422 otherwise),
``auth`` a 401, ``429`` and the throughput limit a 429 problem (with ``Retry-After``).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from typing import Any

from .. import faults, segments
from ..config import SimConfig
from ..http import params
from ..http.exchange import Answer, Inbound
from ..ledger import Ledger
from ..receipts.dispatcher import Dispatcher, delivery_delay
from ..receipts.expiry import expires, validity_s
from ..vonage.account import Account
from . import answers, webhooks
from .auth import check_auth
from .checks import check_body, unknown_fields
from .keys import ApplicationKeys

Record = dict[str, Any]


class MessagesApi:
    """The Messages API route's rules, driven by :class:`~..endpoint.Endpoint`."""

    route = "messages"

    def __init__(
        self,
        ledger: Ledger,
        dispatcher: Dispatcher,
        account: Account,
        rng: random.Random,
        keys: ApplicationKeys,
    ) -> None:
        self._ledger = ledger
        self._dispatcher = dispatcher
        self._account = account
        self._rng = rng
        self._keys = keys

    def parse(self, inbound: Inbound) -> dict[str, str]:
        """The body's top-level fields as text (objects as JSON text); the parsed body is in the record."""
        return params.parse("", inbound.content_type, inbound.body)

    def unknown_params(self, got: Mapping[str, str]) -> list[str]:
        return unknown_fields(got)

    def fault_answer(
        self, fault: faults.Fault, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record
    ) -> Answer | None:
        if fault.kind == "status":
            status = int(fault.arg)
            return answers.problem(status if 400 <= status <= 599 else 422)
        if fault.kind == "auth":
            return answers.problem(401)
        if fault.kind == "429":
            return answers.problem(429, headers=(("Retry-After", fault.arg),))
        return None

    def throttled(
        self, inbound: Inbound, got: dict[str, str], wait_ms: int, config: SimConfig, record: Record
    ) -> Answer:
        return answers.problem(429, headers=(("Retry-After", str(max(1, round(wait_ms / 1000)))),))

    def handle(self, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record) -> Answer:
        auth = check_auth(inbound, config, self._keys)
        record.update(auth=auth.kind, jwt_claims=auth.claims)
        if auth.failure is not None:
            return answers.problem(401, detail=auth.failure)
        body = _json_object(inbound.body)
        if body is None:
            return answers.problem(422, [("body", "must be a JSON object")])
        record["json"] = body
        record["validity_s"] = validity_s(got.get("ttl"), 1.0)
        invalid = check_body(body)
        if invalid:
            return answers.problem(422, invalid)
        parts = segments.count(body["text"], _encoding(body)).count
        for _ in range(parts):
            if self._account.debit(config) is None:
                return answers.problem(402)
        message_uuid = str(uuid.uuid4())
        record.update(message_id=message_uuid, accepted=True, message_count=parts)
        ref = body.get("client_ref")
        self._ledger.record_accepted(body["to"], body["text"], ref, message_uuid, self.route)
        self._report(body, message_uuid, parts, config, record["validity_s"])
        return answers.accepted(message_uuid)

    def _report(
        self, body: dict[str, Any], message_uuid: str, parts: int, config: SimConfig, validity: float | None
    ) -> None:
        url = webhooks.status_url(config, body.get("webhook_url"))
        if not url:
            return
        to = body["to"]
        send = webhooks.MessagesSend(message_uuid, to, body["from"], body.get("client_ref"), parts, url)
        delay = delivery_delay(config, self._rng)
        forced: webhooks.Forced | None = None
        if to in config.barred:
            forced = webhooks.BARRED
        elif to in config.opted_out:
            forced = webhooks.OPTED_OUT
        elif expires(validity, delay):
            forced = webhooks.EXPIRED
        chain = webhooks.plan_webhooks(send, config, self._rng, forced)
        self._dispatcher.schedule(chain, config, self._rng, delay)


def _encoding(body: Mapping[str, Any]) -> str | None:
    """``sms.encoding_type`` as a segment encoding: UCS-2, GSM-7, or None to detect (``auto``)."""
    kind = body.get("sms", {}).get("encoding_type", "auto")
    return {"unicode": segments.UCS2, "text": segments.GSM7}.get(kind)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None
