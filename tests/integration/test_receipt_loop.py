"""The whole loop through real processes:
producer -> worker -> simulator -> receipt -> receiver -> stream -> correlator -> record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, start_live, stop_live
from tests.support.sim import receipts_to
from tests.support.waiting import wait_for
from worker import constants as c

SIGNING = {"signature_secret": "Ex4mpleSigSecret0123456789abcdef", "signature_method": "sha256"}
FINAL = {"delivered", "failed", "expired", "rejected", "unknown"}


@pytest.fixture(scope="module")
def loop(redis_url: str, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    live = start_live(redis_url, sim, tmp_path_factory.mktemp("loop"), receiver=True, callbacks=True,
                      **SIGNING)
    try:
        yield live
    finally:
        stop_live(live)


@pytest.fixture
def dlr_sim(loop: LiveStack, sim: Simulator) -> Simulator:
    sim.reset()
    return receipts_to(sim, loop.stack.webhook_url or "", dlr_delay_s=0.05, dlr_mix={"delivered": 1.0},
                       dlr_retry_initial_s=0.2, **SIGNING)


def test_signed_receipt_settles_a_send_as_delivered(loop: LiveStack, dlr_sim: Simulator) -> None:
    """A send ends `delivered` with the receipt's err-code, network, price and time."""
    rid = loop.producer.send_pin("16365553226", "135790", "loop-1")
    record = loop.wait_state(rid, {"delivered"})
    assert record["receipt_status"] == "delivered" and record["err_code"] == "0"
    assert record["network"] == "310004" and record["price"] and record["receipt_at"]
    assert record["message_id"] == dlr_sim.requests()[0]["message_id"]
    assert loop.producer.wait(rid, timeout=1)["state"] == "delivered"


@pytest.mark.parametrize("transport", ["get", "form", "json"])
def test_each_receipt_transport_is_understood(loop: LiveStack, dlr_sim: Simulator, transport: str) -> None:
    """GET query, form POST and JSON POST receipts all correlate."""
    dlr_sim.configure(dlr_transport=transport)
    rid = loop.producer.send_pin("16365553226", "246802")
    loop.wait_state(rid, {"delivered"})


def test_failed_receipt_carries_err_code(loop: LiveStack, dlr_sim: Simulator) -> None:
    """A failed receipt ends the send in `failed` with the carrier's err-code."""
    dlr_sim.configure(dlr_mix={"failed": 1.0})
    rid = loop.producer.send_pin("16365553226", "112233")
    record = loop.wait_state(rid, {"failed"})
    assert record["err_code"] not in (None, "0")


def test_receipt_before_response_is_parked_and_applied(loop: LiveStack, dlr_sim: Simulator) -> None:
    """When the receipt beats the provider's answer, the send still ends delivered."""
    dlr_sim.configure(receipt_before_response=True)
    rids = [loop.producer.send_pin("16365553226", f"55{i:04d}", f"early-{i}") for i in range(5)]
    for rid in rids:
        assert loop.wait_state(rid, {"delivered"})["message_id"]


def test_duplicates_and_out_of_order_end_in_the_final_state(loop: LiveStack, dlr_sim: Simulator) -> None:
    """Intermediate after final, and every receipt twice: the final state stands."""
    dlr_sim.configure(dlr_intermediate=True, out_of_order=True, duplicate_rate=1.0)
    rids = [loop.producer.send_pin("16365553226", f"66{i:04d}") for i in range(5)]
    for rid in rids:
        loop.wait_state(rid, {"delivered"})
    assert dlr_sim.wait_receipts_idle(10)
    stats = loop.producer.store.stats()
    wait_for(lambda: loop.producer.redis.xlen(f"{loop.settings.key_prefix}{c.KEY_RECEIPTS_STREAM}") == 0,
             what="the result queue to drain")
    assert all(loop.producer.get_status(r)["state"] == "delivered" for r in rids)
    assert stats.get("receipts_stale", 0) + stats.get("receipts_duplicate", 0) >= 5


def test_forged_receipt_is_refused_and_never_queued(loop: LiveStack, dlr_sim: Simulator) -> None:
    """A receipt signed with the wrong secret gets 401 and leaves the record alone."""
    dlr_sim.configure(signature_secret="not-the-real-secret-000", dlr_retry_window_s=1.0)
    rid = loop.producer.send_pin("16365553226", "778899")
    loop.wait_state(rid, {"submitted"})
    wait_for(lambda: any(r.get("last_http_status") == 401 for r in dlr_sim.receipts()),
             what="the forged receipt to be refused")
    assert loop.producer.get_status(rid)["state"] == "submitted"


def test_conversion_is_reported_and_recorded(loop: LiveStack, dlr_sim: Simulator) -> None:
    """report_conversion POSTs the message-id to the provider and keeps the outcome."""
    rid = loop.producer.send_pin("16365553226", "314159")
    record = loop.wait_state(rid, {"delivered"})
    loop.producer.report_conversion(rid, delivered=True)
    done = wait_for(lambda: (r := loop.producer.get_status(rid))["conversion_status"] and r,
                    what="the conversion outcome")
    assert done["conversion_status"] == "reported"
    conversions = dlr_sim.conversions()
    assert conversions[-1]["params"]["message-id"] == record["message_id"]
    assert conversions[-1]["params"]["delivered"] == "true"


def test_conversion_refusal_is_not_retried(loop: LiveStack, dlr_sim: Simulator) -> None:
    """A 402 (conversions not enabled) is recorded as failed after one call."""
    rid = loop.producer.send_pin("16365553226", "271828")
    loop.wait_state(rid, {"delivered"})
    before = len(dlr_sim.conversions())
    dlr_sim.configure(conversion_script=(402,))
    loop.producer.report_conversion(rid)
    done = wait_for(lambda: (r := loop.producer.get_status(rid))["conversion_status"] and r,
                    what="the conversion outcome")
    assert "402" in done["conversion_status"]
    assert len(dlr_sim.conversions()) == before + 1
