"""One unroutable number must not stall every send on its route (issue 23 finding 1).

``PINRELAY_ROUTES=twilio`` against the simulator, which answers Twilio's 21612 (this To/From
pair cannot be routed) for one number. Before, 21612 was the route's fault: the route's breaker
opened for ``PINRELAY_ROUTE_COOLDOWN`` (60 s), every other send waited in ``queued``, and the
refused send came back as the half-open probe and opened it again. Now that answer ends (or
moves) that send only; the route's breaker stays closed and no other send waits for it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinrelay_ops.simulator import Simulator
from tests.reliability.figures import Figures
from tests.support.routes import RouteStacks, routes_of

pytestmark = pytest.mark.slow

POISON = "16365550199"
ORDINARY = 12
WITHIN_S = 2.0


@pytest.fixture
def stacks(redis_url: str, tmp_path: Path) -> Iterator[RouteStacks]:
    started = RouteStacks(redis_url, tmp_path)
    try:
        yield started
    finally:
        started.close()


def test_one_unroutable_number_does_not_hold_the_other_sends(stacks: RouteStacks, sim: Simulator,
                                                             figures: Figures) -> None:
    """The poisoned send ends `error` (21612) after one call; then ordinary sends to other numbers,
    one after another and a second poisoned one among them, each reach `submitted` within 2 s; the
    route's breaker never opens and the poisoned number is never called again for that send."""
    sim.configure(number_faults={POISON: "status:21612"})
    live = stacks.start(sim, ("twilio",))
    poisoned = live.producer.send_pin(POISON, "909090", "poison-0")
    record = live.wait_state(poisoned, {"error"}, timeout=20)
    assert record["provider_status"] == "21612" and record["routes_tried"] == ["twilio"]
    took = []
    for i in range(ORDINARY):
        if i == ORDINARY // 2:
            live.wait_state(live.producer.send_pin(POISON, "909091", "poison-1"), {"error"}, timeout=20)
        started = time.monotonic()
        rid = live.producer.send_pin(f"1636555{3300 + i}", f"7070{i:02d}", f"ordinary-{i}")
        live.wait_state(rid, {"submitted"}, timeout=30)
        took.append(time.monotonic() - started)
    twilio = routes_of(live)["twilio"]
    figures.add("one unroutable number", "PINRELAY_ROUTES=twilio; the provider answers 21612 for one "
                f"number; two sends to it, then {ORDINARY} ordinary sends one after another",
                sent=ORDINARY + 2, lost=0, duplicated=0,
                measured=f"ordinary sends submitted in median {statistics.median(took):.2f} s, slowest "
                f"{max(took):.2f} s; the route's breaker opened {twilio['times_opened']} times")
    assert max(took) < WITHIN_S, took
    assert twilio["state"] == "closed" and twilio["times_opened"] == 0 and twilio["countries"] == {}
    calls = [r for r in sim.requests("twilio") if r["params"]["To"] == "+" + POISON]
    assert len(calls) == 2  # one per poisoned send: never again as a probe
    assert live.producer.get_status(poisoned)["state"] == "error"
