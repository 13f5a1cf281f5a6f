"""Receipts that must not settle the wrong send, through the whole live stack (issue 10 findings
1 and 5): a real worker, the real receiver and correlator, the simulator's receipts over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.sim import receipts_to, simulator
from tests.support.waiting import wait_for
from webhook.app import RECEIPT_PATH

TO = "16365553226"
SETTLED = {"delivered", "failed", "expired", "rejected", "unknown"}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with simulator(dlr_mix={"delivered": 1.0}) as running:
        yield running


@pytest.fixture(scope="module")
def module_stack(redis_url: str, sim: Simulator,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """One worker, receiver and correlator for the module (they take seconds to start and stop)."""
    live = start_live(redis_url, sim, tmp_path_factory.mktemp("hostile-live"), receiver=True)
    try:
        yield live
    finally:
        stop_live(live)


@pytest.fixture
def stack(module_stack: LiveStack) -> LiveStack:
    """The module's stack with the simulator as new: no scripts, every receipt `delivered`, sent
    to the stack's receiver."""
    module_stack.sim.reset()
    receipts_to(module_stack.sim, module_stack.stack.webhook_url or "")
    return module_stack


def test_two_sends_sharing_a_client_ref_each_get_their_own_receipt(stack: LiveStack) -> None:
    """Finding 5: A and B share `--client-ref login`. B's answer is lost after the PIN went out
    (`close:sent`: B is `unconfirmed`, no message-id), so only its client-ref can match B's
    receipt. It settles B, not A (the first holder, submitted under its own message-id)."""
    a = stack.producer.send_pin(TO, "123456", client_ref="login")
    first = stack.wait_state(a, SETTLED)
    stack.sim.configure(script=("close:sent",))
    b = stack.producer.send_pin(TO, "654321", client_ref="login")
    second = stack.wait_state(b, SETTLED)
    assert second["message_id"] and second["message_id"] != first["message_id"]
    assert stack.record(a) == first  # A untouched by B's receipt


def test_forged_receipt_naming_a_client_ref_leaves_the_send_alone(stack: LiveStack) -> None:
    """Finding 1, the issue's reproduction: `curl "$WH?messageId=FORGED1&status=failed&err-code=EVIL&
    client-ref=acct-42"` against a send submitted under another message-id changes nothing."""
    stack.sim.configure(dlr_url="")  # no genuine receipt: the send stays submitted
    rid = stack.producer.send_pin(TO, "123456", client_ref="acct-42")
    submitted = stack.wait_state(rid, {"submitted"})
    stats = stack.producer.store.stats
    parked = stats().get("receipts_parked", 0)  # the stack is the module's: count from here
    forged = {"messageId": "FORGED1", "status": "failed", "err-code": "EVIL", "client-ref": "acct-42"}
    answer = requests.get((stack.stack.webhook_url or "") + RECEIPT_PATH, params=forged, timeout=5)
    assert answer.status_code == 200  # unsigned on loopback: accepted, then not applied
    wait_for(lambda: stats().get("receipts_parked", 0) > parked, 20,
             "the correlator to park the forged receipt")
    assert stack.record(rid) == submitted
    assert not any(k.startswith("receipt:failed") for k in stats())
