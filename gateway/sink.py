"""What acquisition hands to the uplink side: readings and events of known devices.

Pollers and MQTT sources call a ``Sink``; the outbox (``gateway.outbox``) implements it by
batching readings into wire messages and writing them to the durable queue. A source that
must acknowledge what it received (an MQTT source) needs a ``StoringSink``, which says
when what it was handed is on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from estatewatch.wire import EventKind, FieldValue


@dataclass(frozen=True)
class DeviceInfo:
    """A device as it appears on the wire."""

    device_id: str
    device_type: str
    profile: str
    tags: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)


class Sink(Protocol):
    def reading(
        self,
        device: DeviceInfo,
        ts: datetime,
        fields: Mapping[str, FieldValue],
        *,
        urgent: bool = False,
    ) -> None:
        """``urgent``: a fault or alarm field changed; send it without waiting for the
        next batch."""

    def event(
        self,
        device: DeviceInfo,
        ts: datetime,
        kind: EventKind,
        detail: Mapping[str, FieldValue],
    ) -> None: ...


class StoringSink(Sink, Protocol):
    def when_stored(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once everything handed in so far is stored durably (never, if
        storing fails: an unacknowledged message is then delivered again)."""
