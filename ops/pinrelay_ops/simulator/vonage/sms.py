"""The Vonage SMS API route (docs/provider-routes.md A): ``POST /sms/json`` as an OTP route.

The response has the 2FA shape but one ``messages`` entry **per part**
(``message-count`` their number): each part has its own message-id, is
charged on its own, and gets its own DLR. ``type=unicode`` counts the text in
UCS-2 (70 / 67 per part), anything else in GSM-7 (160 / 153). With
``sms_partial_failure`` the last part of a multi-part text is refused with
``{"status": "1", "error-text": "Throttled"}`` as in the SDK fixture, so a
client sees a partial failure (A.4).

DLRs are the 2FA route's, pushed to the per-message ``callback`` or
``dlr_url`` unless ``status-report-req`` is false; their ``to`` is the
``from`` sent. An opted-out number is accepted and ends ``failed`` with
err-code 9 (A.5); a ``ttl`` shorter than the receipt delay ends ``expired``
(``receipts/expiry.py``). Message-ids are UUIDs by default (``sms_message_ids``).
The body may be a form or JSON (the Node SDK posts JSON with Basic auth).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Final

from .. import faults, segments
from ..config import SimConfig
from ..http import params
from ..http.exchange import Answer, Inbound
from ..ledger import Ledger
from ..receipts.dispatcher import Dispatcher, delivery_delay
from ..receipts.dlr import AcceptedSend, plan
from ..receipts.expiry import SMS_EXPIRED, expires, validity_s
from . import responses
from .account import Account
from .sms_checks import check_sms, unknown_sms_params, wants_receipts

Record = dict[str, Any]
PARTIAL_FAILURE: Final = {"status": "1", "error-text": "Throttled"}
OPTED_OUT_OUTCOME: Final = ("failed", "9")  # DLR err-code 9: Illegal Number (STOP)


class SmsApi:
    """The SMS API route's rules, driven by :class:`~..endpoint.Endpoint`."""

    route = "sms"

    def __init__(self, ledger: Ledger, dispatcher: Dispatcher, account: Account, rng: random.Random) -> None:
        self._ledger = ledger
        self._dispatcher = dispatcher
        self._account = account
        self._rng = rng

    def parse(self, inbound: Inbound) -> dict[str, str]:
        return params.parse(inbound.query, inbound.content_type, inbound.body)

    def unknown_params(self, got: Mapping[str, str]) -> list[str]:
        return unknown_sms_params(got)

    def fault_answer(
        self, fault: faults.Fault, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record
    ) -> Answer | None:
        if fault.kind not in ("status", "auth"):
            return None
        status = "4" if fault.kind == "auth" else fault.arg
        text = (
            responses.throttle_text(config.throttle_wait_ms)
            if status == "1"
            else responses.error_text(status)
        )
        return _refused(record, status, text)

    def throttled(
        self, inbound: Inbound, got: dict[str, str], wait_ms: int, config: SimConfig, record: Record
    ) -> Answer:
        return _refused(record, "1", responses.throttle_text(wait_ms))

    def handle(self, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record) -> Answer:
        basic = inbound.basic_auth()
        if basic is not None:
            record["auth"] = "basic"
        record["validity_s"] = validity_s(got.get("ttl"), 0.001)
        refusal = check_sms(got, config, basic)
        if refusal is not None:
            return _refused(record, refusal.status, refusal.text)
        messages, ids = self._charge(got, part_count(got), config)
        record["status"] = messages[0]["status"]
        record["message_id"] = ids[0] if ids else None
        record["message_ids"] = ids
        record["message_count"] = len(messages)
        record["accepted"] = bool(ids)
        if ids:
            self._accepted(got, ids, config, record["validity_s"])
        return Answer(200, responses.render_parts(messages))

    def _charge(
        self, got: dict[str, str], parts: int, config: SimConfig
    ) -> tuple[list[dict[str, str]], list[str]]:
        """One entry per part, and the ids of the parts accepted (charged)."""
        messages: list[dict[str, str]] = []
        ids: list[str] = []
        for index in range(parts):
            if config.sms_partial_failure and parts > 1 and index == parts - 1:
                messages.append(dict(PARTIAL_FAILURE))
                continue
            balance = self._account.debit(config)
            if balance is None:
                messages.append({"status": "9", "error-text": responses.error_text("9")})
                continue
            message_id = self._account.message_id(config.sms_message_ids)
            ids.append(message_id)
            message = responses.accepted_message(
                got["to"], message_id, balance, config.message_price, config.network, got.get("client-ref")
            )
            if "account-ref" in got:
                message["account-ref"] = got["account-ref"]
            messages.append(message)
        return messages, ids

    def _accepted(
        self, got: dict[str, str], ids: list[str], config: SimConfig, validity: float | None
    ) -> None:
        to, client_ref = got["to"], got.get("client-ref")
        text = got.get("text") or got.get("body", "")
        self._ledger.record_accepted(to, text, client_ref, ids[0], route=self.route, more_ids=ids[1:])
        url = got.get("callback") or config.dlr_url
        if not url or not wants_receipts(got):
            return
        delay = delivery_delay(config, self._rng)
        outcome = OPTED_OUT_OUTCOME if to in config.opted_out else None
        if outcome is None and expires(validity, delay):
            outcome = SMS_EXPIRED
        for message_id in ids:
            send = AcceptedSend(
                message_id, to, client_ref, config.api_key, config.message_price, config.network, got["from"]
            )
            chain = plan(send, config, self._rng, url=url, outcome=outcome, route=self.route)
            self._dispatcher.schedule(chain, config, self._rng, delay)


def part_count(got: Mapping[str, str]) -> int:
    """How many SMS the text takes: UCS-2 for ``type=unicode``, GSM-7 otherwise; binary is one."""
    kind = got.get("type", "text")
    if kind == "binary":
        return 1
    encoding = segments.UCS2 if kind == "unicode" else segments.GSM7
    return segments.count(got.get("text", ""), encoding).count


def _refused(record: Record, status: str, text: str) -> Answer:
    """A refused request: one entry with only ``status`` and ``error-text`` (A.2)."""
    record["status"] = status
    return Answer(200, responses.render_parts([{"status": status, "error-text": text}]))
