"""How much each scenario does: the full run and the short (CI) run, every size named once.

Durations are seconds of measured load; counts are operations. The short plan
only proves that every scenario runs end to end and loses nothing; its figures
are too small to compare with anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

STEADY_RATE_PER_S: Final = 200.0  # the "steady 200/s" for enqueue->provider latency
DOCUMENTED_RATE_PER_S: Final = 30.0  # the provider's documented per-key limit: what most deployments run at
STEADY_SLICE_S: Final = 1.0  # seconds each variant sends before the other takes its turn
CONNECTIONS: Final = 50  # concurrent connections of the receipt load generator
WORKER_PROCESSES: Final = 2  # Celery prefork children, ours and the naive baseline's
SERVER_WORKERS: Final = 2  # receiver processes: granian workers, gunicorn sync workers
CORRELATOR_BATCH: Final = 500  # entries per XREADGROUP, ours and the naive correlator's
SEED_BATCH: Final = 1_000  # records or stream entries written per pipeline while seeding
RECEIPT_POOL_RATE_PER_S: Final = 30_000  # pre-signed receipts generated per second of load


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes of one bench run."""

    name: str
    sends: int  # PINs through the workers, first to last provider call
    scale_procs: tuple[int, ...]  # worker processes of the scale-out runs (the main run has WORKER_PROCESSES)
    scale_sends: int  # PINs per scale-out run (each count in scale_procs, each variant)
    steady_s: float  # seconds of paced sends at STEADY_RATE_PER_S, per variant
    documented_s: float  # seconds of paced sends at DOCUMENTED_RATE_PER_S, per variant
    receipts_s: float  # seconds of load per receipt server
    backlog: int  # receipts waiting on the stream before the correlator starts
    enqueue_s: float  # seconds of one-by-one enqueueing
    bulk: int  # PINs enqueued with the bulk API
    settle_timeout_s: float  # longest wait for a phase's work to finish

    @property
    def receipt_pool(self) -> int:
        """Distinct signed receipts: more than the fastest receiver can take in ``receipts_s``."""
        return int(self.receipts_s * RECEIPT_POOL_RATE_PER_S)


FULL: Final = Plan(
    name="full", sends=10_000, scale_procs=(1, 4), scale_sends=3_000, steady_s=15.0, documented_s=20.0,
    receipts_s=8.0, backlog=50_000, enqueue_s=5.0, bulk=50_000, settle_timeout_s=600.0,
)
SHORT: Final = Plan(
    name="short", sends=300, scale_procs=(4,), scale_sends=100, steady_s=1.0, documented_s=1.0,
    receipts_s=1.0, backlog=2_000, enqueue_s=0.5, bulk=1_000, settle_timeout_s=40.0,
)
