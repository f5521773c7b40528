"""Reconnect delays: doubling, capped, jittered, reset after a success; delivery retry delays."""

from __future__ import annotations

import pytest

from estatewatch.backoff import Backoff, equal_jitter


def test_delays_double_up_to_the_limit_within_the_jitter_and_reset() -> None:
    backoff = Backoff(0.5, 4.0)
    nominal = [0.5, 1.0, 2.0, 4.0, 4.0]
    for expected in nominal:
        assert 0.8 * expected <= backoff.next() <= 1.2 * expected
    backoff.reset()
    assert 0.4 <= backoff.next() <= 0.6


def test_an_impossible_range_is_refused() -> None:
    with pytest.raises(ValueError, match="first <= limit"):
        Backoff(5.0, 1.0)


def test_equal_jitter_keeps_at_least_half_of_a_doubling_capped_delay() -> None:
    for attempt, ceiling in ((1, 5.0), (2, 10.0), (3, 20.0), (8, 60.0)):
        delays = [equal_jitter(attempt, 5.0, 60.0) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not one fixed value
