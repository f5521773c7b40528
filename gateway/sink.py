"""What acquisition hands to the uplink side: readings and events of known devices.

Pollers and MQTT sources call a ``Sink``; the outbox (``gateway.outbox``) implements it by
batching readings into wire messages and writing them to the durable queue.
"""

from __future__ import annotations

from collections.abc import Mapping
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
