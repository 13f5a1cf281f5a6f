"""``pinrelay bench``: the benchmark suite, each scenario against a naive baseline in the same run.

Scenarios (one module each): :mod:`.sends`, :mod:`.receipts`,
:mod:`.correlation`, :mod:`.enqueue`. Shared pieces: :mod:`.harness` (private
Redis, stacks, the simulator's API), :mod:`.procs` (CPU and RSS accounting),
:mod:`.loadgen` (wrk or Python), :mod:`.stats`, :mod:`.report`, and the naive
baselines :mod:`.naive` (one per scenario). See BENCHMARKS.md.
"""

from __future__ import annotations

from pinrelay_ops.bench.runner import SCENARIOS, run_bench

__all__ = ["run_bench", "SCENARIOS"]
