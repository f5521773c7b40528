"""The one meaning of "clock" in this code base: a callable that returns the time now.

Every service takes a :data:`Clock` from its composition root (``utc_now`` in production,
a settable fake in tests), so time rules (SLA due times, rule windows, vote deadlines)
are testable without sleeping. Other time-keeping things have their own names: an order's
SLA clock is :class:`maintenance.domain.sla.SlaClock`, the gateway's scheduling time base
is :class:`gateway.poller.Timebase`, the simulators' accelerated time is ``SimClock``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware (UTC)."""


def utc_now() -> datetime:
    """The production :data:`Clock`."""
    return datetime.now(UTC)
