"""A 502/504 from a gateway in front of the provider is ``unconfirmed``, never retried.

The gateway may have forwarded the request before its upstream timed out or broke (issue 10,
finding 10): a retry could text the user twice. A real worker sends to the simulator, whose
scripted answer is the gateway error; the simulator's ledger counts the calls.
"""

from __future__ import annotations

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack
from tests.support.waiting import wait_for

TO = "16365553226"


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_error_is_unconfirmed_after_one_call(
    live: LiveStack, fresh_sim: Simulator, status: int
) -> None:
    fresh_sim.configure(script=(f"http:{status}",))
    rid = live.producer.send_pin(TO, "302010")
    record = live.wait_state(rid, {"unconfirmed", "submitted", "error"}, timeout=15)
    assert record["state"] == "unconfirmed", record
    assert record["provider_status"] == f"http-{status}"
    assert "gateway" in record["error_text"]
    wait_for(lambda: len(fresh_sim.requests()) >= 1, what="the call to be recorded")
    assert len(fresh_sim.requests()) == 1


def test_plain_503_is_still_retried(live: LiveStack, fresh_sim: Simulator) -> None:
    fresh_sim.configure(script=("http:503",))
    rid = live.producer.send_pin(TO, "302011")
    assert live.wait_state(rid, {"submitted", "unconfirmed", "error"}, timeout=15)["state"] == "submitted"
    assert [r["http_status"] for r in fresh_sim.requests()] == [503, 200]
