"""The Twilio route (docs/provider-routes.md B): ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

Form-encoded params, HTTP Basic auth (checks in :mod:`.checks`). An accepted
message is answered 201 ``queued`` (``accepted`` with a Messaging Service) and
then reported by signed status callbacks to ``StatusCallback`` (or, with a
Messaging Service and no ``StatusCallback``, to ``twilio_status_url``): see
``receipts/status_callbacks.py`` for the progression. A barred number is
accepted and ends ``undelivered`` with 30004 (blocked); a ``ValidityPeriod``
shorter than the receipt delay ends ``failed`` with 30036 (``receipts/expiry.py``).

Faults in Twilio's words: ``status:N`` is the error JSON of code N, ``auth`` is
401 / 20003, ``429`` is 429 / 20429 (with ``Retry-After``), and the
throughput limit answers 429 / 20429 too (the REST concurrency limit, B.7).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Final

from .. import faults, segments
from ..config import SimConfig
from ..http import params
from ..http.exchange import Answer, Inbound
from ..http.routes import twilio_account_sid
from ..ledger import Ledger
from ..receipts.dispatcher import Dispatcher, delivery_delay
from ..receipts.expiry import TWILIO_EXPIRED, expires, validity_s
from ..receipts.status_callbacks import TwilioSend, plan_callbacks
from . import answers
from .checks import Failure, check_auth, check_message, unknown_params

Record = dict[str, Any]
BARRED_OUTCOME: Final = ("undelivered", "30004")


class TwilioMessages:
    """The Twilio route's rules, driven by :class:`~..endpoint.Endpoint`."""

    route = "twilio"

    def __init__(self, ledger: Ledger, dispatcher: Dispatcher, rng: random.Random) -> None:
        self._ledger = ledger
        self._dispatcher = dispatcher
        self._rng = rng
        self._sids = answers.MessageSids()

    def parse(self, inbound: Inbound) -> dict[str, str]:
        return params.parse(inbound.query, inbound.content_type, inbound.body)

    def unknown_params(self, got: Mapping[str, str]) -> list[str]:
        return unknown_params(got)

    def fault_answer(
        self, fault: faults.Fault, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record
    ) -> Answer | None:
        if fault.kind == "status":
            return _refused(record, Failure(int(fault.arg)))
        if fault.kind == "auth":
            return _refused(record, Failure(20003))
        if fault.kind == "429":
            return _refused(record, Failure(20429), (("Retry-After", fault.arg),))
        return None

    def throttled(
        self, inbound: Inbound, got: dict[str, str], wait_ms: int, config: SimConfig, record: Record
    ) -> Answer:
        return _refused(record, Failure(20429))

    def handle(self, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record) -> Answer:
        path_sid = twilio_account_sid(inbound.path) or ""
        record["validity_s"] = validity_s(got.get("ValidityPeriod"), 1.0)
        failure = check_auth(inbound.basic_auth(), path_sid, config) or check_message(got, config)
        if failure is not None:
            return _refused(record, failure)
        sid = self._sids.next()
        to, body = got["To"], got.get("Body", "")
        service = got.get("MessagingServiceSid") or None
        record.update(status="accepted" if service else "queued", message_id=sid, accepted=True)
        self._ledger.record_accepted(to, body, None, sid, route=self.route)
        url = got.get("StatusCallback") or (config.twilio_status_url if service else "")
        if url:
            sender = got.get("From") or min(config.twilio_numbers, default="")
            send = TwilioSend(sid, config.twilio_account_sid, to, sender, service, url)
            barred = to.removeprefix("+") in config.barred or to in config.barred
            delay = delivery_delay(config, self._rng)
            outcome = BARRED_OUTCOME if barred else None
            if outcome is None and expires(record["validity_s"], delay):
                outcome = TWILIO_EXPIRED
            chain = plan_callbacks(send, config, self._rng, outcome=outcome)
            self._dispatcher.schedule(chain, config, self._rng, delay)
        parts = segments.count(body).count
        return answers.created(sid, config.twilio_account_sid, to, got.get("From"), service, body, parts)


def _refused(record: Record, failure: Failure, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    record["status"] = str(failure.code)
    return answers.error(failure.code, failure.value, headers)
