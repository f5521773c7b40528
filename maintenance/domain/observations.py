"""What the rule engine observes: small frozen records built from the wire messages.

The maintenance service decodes broker messages into :mod:`estatewatch.wire` models and
turns them into these with :func:`from_telemetry`, :func:`from_event` and
:func:`from_status`; the engine (:mod:`maintenance.domain.rules`) sees nothing else, so
tests script it without pydantic or a broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from estatewatch.wire import EventKind, EventMessage, FieldValue, GatewayStatus, TelemetryMessage
from maintenance.domain.signals import DeviceRef

__all__ = [
    "BUILDING_TAG",
    "DeviceEvent",
    "GatewayState",
    "Observation",
    "TelemetryReading",
    "from_event",
    "from_status",
    "from_telemetry",
]

BUILDING_TAG = "building"


@dataclass(frozen=True, slots=True)
class TelemetryReading:
    """One device's fields at one instant (a reading may carry only the changed fields)."""

    device: DeviceRef
    building: str | None
    ts: datetime
    fields: Mapping[str, FieldValue]


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A gateway event about one device: door cycle, trip, online/offline, message."""

    device: DeviceRef
    building: str | None
    ts: datetime
    kind: EventKind
    detail: Mapping[str, FieldValue]


@dataclass(frozen=True, slots=True)
class GatewayState:
    site: str
    gateway_id: str
    online: bool
    ts: datetime


Observation = TelemetryReading | DeviceEvent | GatewayState


def from_telemetry(msg: TelemetryMessage) -> list[TelemetryReading]:
    device = DeviceRef(msg.site, msg.device_type, msg.device_id)
    building = msg.tags.get(BUILDING_TAG)
    return [TelemetryReading(device, building, r.ts, r.fields) for r in msg.readings]


def from_event(msg: EventMessage) -> DeviceEvent:
    device = DeviceRef(msg.site, msg.device_type, msg.device_id)
    return DeviceEvent(device, msg.tags.get(BUILDING_TAG), msg.ts, msg.kind, msg.detail)


def from_status(msg: GatewayStatus) -> GatewayState:
    return GatewayState(msg.site, msg.gateway_id, msg.state == "online", msg.ts)
