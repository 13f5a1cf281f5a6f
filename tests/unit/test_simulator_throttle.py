"""The simulator's sliding-window throughput limit."""

from __future__ import annotations

from pinrelay_ops.simulator.throttle import SlidingWindow


def test_admits_up_to_the_limit_within_one_window() -> None:
    """Five per second: five admitted at once, the sixth told to wait."""
    window = SlidingWindow(5)
    assert [window.admit(10.0) for _ in range(5)] == [None] * 5
    assert window.admit(10.0) == 1000


def test_wait_is_until_the_oldest_admission_leaves_the_window() -> None:
    """The wait (ms) counts down to when the oldest admission is one window old."""
    window = SlidingWindow(2)
    window.admit(0.0)
    window.admit(0.4)
    assert window.admit(0.75) == 250
    assert window.admit(1.0) is None  # the one at 0.0 has left


def test_refused_requests_do_not_take_a_slot() -> None:
    """Being told to wait does not push the window further out."""
    window = SlidingWindow(1)
    assert window.admit(0.0) is None
    for step in range(1, 10):
        assert window.admit(step / 10) is not None
    assert window.admit(1.0) is None


def test_zero_limit_is_unlimited() -> None:
    """limit 0 admits everything."""
    window = SlidingWindow(0)
    assert all(window.admit(0.0) is None for _ in range(10_000))


def test_fractional_limit_admits_at_least_one() -> None:
    """0.5/s still lets one request through per window."""
    window = SlidingWindow(0.5)
    assert window.admit(0.0) is None
    assert window.admit(0.1) == 900
