"""A simulated clock that runs ``factor`` times faster than the wall clock.

Models only ever see simulated seconds, so a test can run a month of door wear in seconds
with a large factor, or step a model by hand with a ``ManualClock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class SimClock:
    """Simulated time = start + factor * (wall time elapsed)."""

    def __init__(
        self,
        factor: float = 1.0,
        start: float | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if factor <= 0:
            raise ValueError("the time factor must be positive")
        self._wall = wall
        self._factor = factor
        self._wall0 = wall()
        self._sim0 = time.time() if start is None else start

    @property
    def factor(self) -> float:
        return self._factor

    @factor.setter
    def factor(self, value: float) -> None:
        if value <= 0:
            raise ValueError("the time factor must be positive")
        # Re-anchor so simulated time is continuous across the change.
        self._sim0, self._wall0 = self.now(), self._wall()
        self._factor = value

    def now(self) -> float:
        """Simulated Unix time in seconds."""
        return self._sim0 + (self._wall() - self._wall0) * self._factor

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00Z
        self._now = start
        self.factor = 1.0

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self._now, UTC)
