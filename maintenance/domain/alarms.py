"""Alarms, and the pure policy that turns a rule's :class:`Signal` into alarm and
work-order decisions.

- At most one active alarm per (device, rule): ``raised`` opens one, or bumps the active
  one (a repeat bumps its counter and last-seen); ``cleared`` clears it. Acknowledging
  and clearing are independent: an alarm may be acknowledged while active, or cleared
  before anyone acknowledged it.
- Work orders, only when an alarm opens and the signal has a priority (notices open
  none): attach to the open order for (asset, fault kind) if there is one (raising its
  priority if the alarm is more urgent); otherwise open
  a new order, linked as a repeat fault when the last order for the same (asset, fault
  kind) was closed within 30 days of the signal (``workorders.REPEAT_WINDOW``).
- An order whose only alarm cleared before anyone acknowledged either closes as
  self-cleared (:func:`self_clears`).

The asset key of a device is ``str(DeviceRef)``; the category comes from the fault kind,
else the device type (:func:`category_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from maintenance.domain.actors import Actor
from maintenance.domain.errors import AlreadyAcknowledged, DomainError
from maintenance.domain.events import DomainEvent
from maintenance.domain.inspections import FAULT_KIND as INSPECTION_FAULT_KIND
from maintenance.domain.rescue import RESCUE_CATEGORY, RESCUE_FAULT_KIND
from maintenance.domain.signals import DeviceRef, Priority, Severity, Signal
from maintenance.domain.visits import VISIT_CATEGORY
from maintenance.domain.workorders import SELF_CLEARABLE, WorkOrder, repeat_of

_CATEGORY_BY_DEVICE_TYPE = {
    "elevator": "elevator",
    "charger": "ebike_charging",
    "smoke_alarm": "fire_safety",
}
_CATEGORY_BY_FAULT_KIND = {
    "fire": "fire_safety",
    "offline": "connectivity",
    RESCUE_FAULT_KIND: RESCUE_CATEGORY,  # an entrapment opens a rescue order
}


ADMINISTRATIVE_FAULT_KINDS = frozenset({INSPECTION_FAULT_KIND, VISIT_CATEGORY})
"""Alarms about papers and schedules, not the machine: an expired inspection certificate,
an overdue maintenance visit (``maintenance_visit/<due day>``). The car may run normally."""


def is_administrative(fault_kind: str) -> bool:
    """Whether an alarm of ``fault_kind`` is administrative (by its family, before ``/``)."""
    return fault_kind.split("/", 1)[0] in ADMINISTRATIVE_FAULT_KINDS


def asset_key(device: DeviceRef) -> str:
    """A device is an asset; its key is ``site/device_type/device_id``."""
    return str(device)


def category_for(device: DeviceRef, fault_kind: str) -> str:
    return _CATEGORY_BY_FAULT_KIND.get(
        fault_kind, _CATEGORY_BY_DEVICE_TYPE.get(device.device_type, device.device_type)
    )


@dataclass(eq=False)
class Alarm:
    id: str
    rule: str
    device: DeviceRef
    severity: Severity
    priority: Priority | None
    fault_kind: str
    message: str
    raised_at: datetime
    last_seen: datetime
    building: str | None = None
    count: int = 1
    acknowledged_by: Actor | None = None
    acknowledged_at: datetime | None = None
    cleared_at: datetime | None = None
    work_order_id: str | None = None
    code: str | None = None
    """The GB/T 24476 code regulators know the fault by (:mod:`estatewatch.gbt24476`)."""
    pending_events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def raise_from(cls, alarm_id: str, signal: Signal) -> Alarm:
        alarm = cls(
            id=alarm_id,
            rule=signal.rule,
            device=signal.device,
            severity=signal.severity,
            priority=signal.priority,
            fault_kind=signal.fault_kind,
            message=signal.message,
            raised_at=signal.at,
            last_seen=signal.at,
            building=signal.building,
            code=signal.code,
        )
        alarm._emit("raised", signal.at, detail={"rule": signal.rule, "device": str(signal.device)})
        return alarm

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def bump(self, signal: Signal) -> None:
        """The condition fired again while active: count it and keep the latest message."""
        self._require_active("bump")
        self.count += 1
        self.last_seen = max(self.last_seen, signal.at)
        self.message = signal.message
        self._emit("repeated", signal.at, detail={"count": str(self.count)})

    def clear(self, at: datetime) -> None:
        self._require_active("clear")
        self.cleared_at = at
        self._emit("cleared", at)

    def acknowledge(self, actor: Actor, at: datetime) -> None:
        if self.acknowledged_by is not None:
            raise AlreadyAcknowledged(
                f"alarm {self.id} was already acknowledged by {self.acknowledged_by}"
            )
        self.acknowledged_by = actor
        self.acknowledged_at = at
        self._emit("acknowledged", at, actor=actor)

    def link_work_order(self, order_id: str) -> None:
        self.work_order_id = order_id

    def pull_events(self) -> list[DomainEvent]:
        events, self.pending_events = self.pending_events, []
        return events

    def _require_active(self, what: str) -> None:
        if not self.active:
            raise DomainError(f"alarm {self.id}: cannot {what}: cleared at {self.cleared_at}")

    def _emit(
        self,
        action: str,
        at: datetime,
        *,
        actor: Actor | None = None,
        detail: dict[str, str] | None = None,
    ) -> None:
        detail = detail or {}
        if self.code is not None and action in ("raised", "cleared"):
            # The regulator feed reports a coded alarm's start and end from these entries.
            detail |= {"code": self.code, "device": str(self.device), "rule": self.rule}
        self.pending_events.append(
            DomainEvent(
                subject="alarm",
                subject_id=self.id,
                action=action,
                at=at,
                actor=actor,
                detail=detail,
            )
        )


# -- the policy ----------------------------------------------------------------------

AlarmStep = Literal["open", "bump", "clear", "ignore"]


def self_clears(order: WorkOrder, alarm: Alarm) -> bool:
    """Whether ``order`` closes as self-cleared now that ``alarm`` cleared: the alarm is
    the order's only one, opened it (not a resident's or staff's report, not a rescue,
    whose timeline needs the passengers released, not papers or schedules, which people
    settle: :func:`is_administrative`), and neither was acknowledged. Never a P1 order:
    life safety is looked at by a person even when the alarm stopped (a smoke alarm
    that fell silent may have burnt)."""
    return (
        not alarm.active
        and order.priority != "P1"
        and not is_administrative(order.fault_kind)
        and alarm.acknowledged_at is None
        and order.alarm_ids == [alarm.id]
        and order.source == "alarm"
        and order.rescue is None
        and order.status in SELF_CLEARABLE
        and order.acknowledged_at is None
    )


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """Open a new work order for the new alarm."""

    title: str
    asset: str
    site: str
    location: str | None
    category: str
    fault_kind: str
    priority: Priority
    repeat_of: str | None = None
    source: Literal["alarm"] = "alarm"
    code: str | None = None


@dataclass(frozen=True, slots=True)
class AttachToOrder:
    """Link the new alarm to the order already open for its (asset, fault kind), raising
    the order's priority to the alarm's if that is more urgent."""

    order_id: str
    priority: Priority


@dataclass(frozen=True, slots=True)
class Decision:
    alarm: AlarmStep
    work_order: OpenOrder | AttachToOrder | None = None


def decide(
    signal: Signal,
    active_alarm: Alarm | None,
    open_order: WorkOrder | None,
    last_closed: WorkOrder | None,
) -> Decision:
    """What to do with ``signal``, given the active alarm for its (device, rule), and the
    open and the most recently closed work order for its (asset, fault kind).

    Lenient with signals out of step with the book: a ``raised`` while an alarm is active
    bumps it; a ``repeated`` with no active alarm (state lost in a restart) opens one; a
    ``cleared`` with none is ignored.
    """
    if signal.kind == "cleared":
        return Decision("clear" if active_alarm is not None else "ignore")
    if active_alarm is not None:
        return Decision("bump")
    if signal.priority is None:
        return Decision("open")
    if open_order is not None:
        return Decision("open", AttachToOrder(open_order.id, signal.priority))
    return Decision(
        "open",
        OpenOrder(
            title=f"{signal.device.device_id}: {signal.message}",
            asset=asset_key(signal.device),
            site=signal.device.site,
            location=signal.building,
            category=category_for(signal.device, signal.fault_kind),
            fault_kind=signal.fault_kind,
            priority=signal.priority,
            repeat_of=repeat_of(last_closed, signal.at),
            code=signal.code,
        ),
    )
