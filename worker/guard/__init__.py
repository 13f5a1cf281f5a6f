"""The pumping guard: number types, quotas, the spend cap and the per-prefix conversion guard.

Its Redis names are in :mod:`worker.guard.keys`. The operating side: :mod:`.status` (what it
does now), :mod:`.admin` (unblock, the safe list), :mod:`.headroom` (doctor's warning),
:mod:`.metrics` (the cluster figures the correlator exports) and :mod:`.limits` (the limits
those read against).
"""
