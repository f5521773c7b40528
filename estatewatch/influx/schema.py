"""Names in InfluxDB that the writer (ingest) and the readers (maintenance, the API) share.

The full layout, measurement by measurement, is documented with the code that writes it,
:mod:`ingest.points`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

__all__ = ["EVENT_MEASUREMENT", "GATEWAY_MEASUREMENT", "PORT_SUFFIX", "time_ns"]

EVENT_MEASUREMENT: Final = "event"
GATEWAY_MEASUREMENT: Final = "gateway"
PORT_SUFFIX: Final = "_port"
"""Appended to a device type for its per-port measurement (``charger_port``)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def time_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch, exactly (``datetime.timestamp()`` is a lossy float)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
