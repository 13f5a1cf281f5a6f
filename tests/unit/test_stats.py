"""The one percentile (nearest rank) that the demo, the report and the bench print."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinrelay_ops.bench.stats import Latency
from worker.stats import percentile

no_database = settings(database=None)  # nothing written into the working tree
samples = st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=200)
pcts = st.floats(min_value=0, max_value=100)


def test_nearest_rank_on_known_data() -> None:
    """1..100: pN is N; on ten values p99 is the largest (no interpolation between 9 and 10)."""
    hundred = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(hundred, 50) == 50
    assert percentile(hundred, 99) == 99
    assert percentile(hundred, 100) == 100
    assert percentile(hundred, 0) == 1
    ten = [float(v) for v in range(1, 11)]
    assert percentile(ten, 99) == 10
    assert percentile(ten, 50) == 5
    assert percentile(ten, 51) == 6


def test_empty_is_none_and_pct_out_of_range_is_refused() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


def test_bench_latency_uses_it() -> None:
    """The bench's p50/p99 come from the same function, in milliseconds."""
    latency = Latency.of_seconds([0.001 * v for v in range(1, 11)])
    assert latency.p99_ms == pytest.approx(10.0)
    assert latency.p50_ms == pytest.approx(5.0)


@no_database
@given(samples, pcts)
def test_result_is_one_of_the_values(values: list[float], pct: float) -> None:
    """Nearest rank never invents a value: the result was observed, within [min, max]."""
    result = percentile(values, pct)
    assert result is not None
    assert result in values
    assert min(values) <= result <= max(values)


@no_database
@given(samples, pcts, pcts)
def test_monotone_in_pct(values: list[float], a: float, b: float) -> None:
    """A higher percentile is never smaller."""
    low, high = sorted((a, b))
    at_low, at_high = percentile(values, low), percentile(values, high)
    assert at_low is not None and at_high is not None
    assert at_low <= at_high


@no_database
@given(samples, pcts)
def test_at_least_pct_percent_at_or_below(values: list[float], pct: float) -> None:
    """The defining property: at least pct% of the values are <= it, and it is the smallest such."""
    result = percentile(values, pct)
    assert result is not None
    rank = max(1, math.ceil(len(values) * pct / 100))
    assert sum(v <= result for v in values) >= rank
    assert sum(v < result for v in values) < rank
