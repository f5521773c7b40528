"""What detection tells the rest of maintenance: a rule raised, repeated or cleared.

The rule engine (:mod:`maintenance.domain.rules`) turns observations into ``Signal`` s;
the alarm book (:mod:`maintenance.domain.alarms`) turns signals into alarms and, by
policy, work orders. The two meet only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from estatewatch.wire import FieldValue

SignalKind = Literal["raised", "repeated", "cleared"]
Severity = Literal["critical", "major", "minor", "notice"]
Priority = Literal["P1", "P2", "P3", "P4"]


@dataclass(frozen=True, slots=True)
class DeviceRef:
    site: str
    device_type: str
    device_id: str

    def __str__(self) -> str:
        return f"{self.site}/{self.device_type}/{self.device_id}"


@dataclass(frozen=True, slots=True)
class Signal:
    """One change of a rule's verdict on one device.

    ``raised`` the first time the condition holds (after its duration or repeat count),
    ``repeated`` when it fires again while still active, ``cleared`` when the clear
    condition holds. ``priority`` is None for a notice: it is recorded and counted, but
    opens no work order. ``fault_kind`` groups alarms into work orders: one open work
    order per (asset, fault kind). ``code`` is the GB/T 24476 code regulators know it
    by (:mod:`estatewatch.gbt24476`), when the rule gives one.
    """

    kind: SignalKind
    rule: str
    device: DeviceRef
    at: datetime
    severity: Severity
    priority: Priority | None
    fault_kind: str
    message: str
    building: str | None = None
    detail: Mapping[str, FieldValue] = field(default_factory=dict)
    code: str | None = None
