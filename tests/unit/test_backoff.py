"""Reconnect delays: doubling, capped, jittered, reset after a success."""

from __future__ import annotations

import pytest

from estatewatch.backoff import Backoff


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
