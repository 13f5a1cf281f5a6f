"""The provider simulator as tests run it: in-process, on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pinrelay_ops.simulator import SimConfig, Simulator
from webhook.app import RECEIPT_PATH


@contextmanager
def simulator(**knobs: Any) -> Iterator[Simulator]:
    """A running simulator on 127.0.0.1 configured with ``knobs`` (:class:`SimConfig`
    fields), stopped on exit."""
    with Simulator(SimConfig(**knobs)) as sim:
        yield sim


def receipts_to(sim: Simulator, webhook_url: str, **knobs: Any) -> Simulator:
    """Point ``sim``'s delivery receipts at the receipt route of the receiver at
    ``webhook_url`` (plus any other ``knobs``)."""
    sim.configure(dlr_url=f"{webhook_url}{RECEIPT_PATH}", **knobs)
    return sim
