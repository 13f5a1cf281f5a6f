"""The US short-code 2FA route (docs/provider-api.md §1-3): ``/sc/us/2fa/json`` and ``/sc/us/2fa/xml``.

The checks are :mod:`.checks`; an accepted send is charged on the shared
:class:`~.account.Account`, gets a 16-hex message-id and, when ``dlr_url`` is
set, the receipts :func:`~..receipts.dlr.plan` draws for it. Faults are worded
as the provider would: ``status:N`` and ``auth`` (status 4) in an HTTP 200 body.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from .. import faults
from ..config import SimConfig
from ..http import params
from ..http.exchange import Answer, Inbound
from ..ledger import Ledger
from ..receipts.dispatcher import Dispatcher
from ..receipts.dlr import AcceptedSend, plan
from . import responses
from .account import Account
from .checks import check_submission, unknown_params

Record = dict[str, Any]


class TwoFactor:
    """The 2FA route's rules, driven by :class:`~..endpoint.Endpoint`."""

    route = "sc2fa"

    def __init__(self, ledger: Ledger, dispatcher: Dispatcher, account: Account, rng: random.Random) -> None:
        self._ledger = ledger
        self._dispatcher = dispatcher
        self._account = account
        self._rng = rng

    def parse(self, inbound: Inbound) -> dict[str, str]:
        return params.parse(inbound.query, inbound.content_type, inbound.body)

    def unknown_params(self, got: Mapping[str, str]) -> list[str]:
        return unknown_params(got)

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
        record["status"] = status
        return _render(inbound, responses.error_message(status, text, got.get("to"), got.get("client-ref")))

    def throttled(
        self, inbound: Inbound, got: dict[str, str], wait_ms: int, config: SimConfig, record: Record
    ) -> Answer:
        record["status"] = "1"
        text = responses.throttle_text(wait_ms)
        return _render(inbound, responses.error_message("1", text, got.get("to"), got.get("client-ref")))

    def handle(self, inbound: Inbound, got: dict[str, str], config: SimConfig, record: Record) -> Answer:
        message = self._decide(got, config)
        record["status"] = message["status"]
        record["message_id"] = message.get("message-id")
        record["accepted"] = "message-id" in message
        return _render(inbound, message)

    def _decide(self, got: dict[str, str], config: SimConfig) -> dict[str, str]:
        """The ``messages[0]`` of a submit that reached the provider's own checks."""
        to, client_ref = got.get("to"), got.get("client-ref")
        refusal = check_submission(got, config)
        if refusal is not None:
            return responses.error_message(refusal.status, refusal.text, to, client_ref)
        balance = self._account.debit(config)
        if balance is None:
            return responses.error_message("9", responses.error_text("9"), to, client_ref)
        assert to is not None
        message_id = self._account.message_id()
        self._ledger.record_accepted(to, got["pin"], client_ref, message_id)
        if config.dlr_url:
            send = AcceptedSend(
                message_id, to, client_ref, config.api_key, config.message_price, config.network
            )
            self._dispatcher.schedule(plan(send, config, self._rng), config, self._rng)
        return responses.accepted_message(
            to, message_id, balance, config.message_price, config.network, client_ref
        )


def _render(inbound: Inbound, message: dict[str, str]) -> Answer:
    """JSON, or the XML form when the path ends in ``/xml``."""
    if inbound.path.rstrip("/").endswith("/xml"):
        return Answer(200, responses.render_xml(message), "text/xml")
    return Answer(200, responses.render_json(message))
