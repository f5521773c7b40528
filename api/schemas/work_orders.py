"""Request and response bodies for work orders, resident requests and alarms.

Responses are built from the read models (:mod:`maintenance.db.read`) and the domain
objects with ``of``; requests carry field constraints, so a bad value is a 422 naming the
field before any service runs. A resident's view of an order (``for_resident``) shows only
notes marked public and leaves private staff comments out of the history.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from api.schemas.constraints import NOT_BLANK, amount_limit, amount_schema
from maintenance.db.read.alarms import AlarmFilters, AlarmSummary
from maintenance.db.read.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest
from maintenance.db.read.work_orders import (
    SortKey,
    WorkOrderDetail,
    WorkOrderFilters,
    WorkOrderSummary,
)
from maintenance.domain.alarms import Alarm
from maintenance.domain.audit import AuditEntry
from maintenance.domain.rescue import RESCUE_CLOCK, Rescue, Stage
from maintenance.domain.signals import Priority, Severity
from maintenance.domain.sla import MINUTE, SlaClock
from maintenance.domain.workorders import Arrival, Resolution, SentEscalation, Status

__all__ = [
    "ALARM_ID_PATTERN",
    "ORDER_ID_PATTERN",
    "PLACE_PATTERN",
    "SORT_PATTERN",
    "AlarmOut",
    "AlarmPageOut",
    "AlarmQuery",
    "ArrivalOut",
    "ArriveIn",
    "AssignIn",
    "ChainStepOut",
    "CommentIn",
    "CostIn",
    "HistoryOut",
    "NewRequestIn",
    "NewWorkOrderIn",
    "NoteIn",
    "NotificationAttemptOut",
    "NotificationOut",
    "RateIn",
    "ReasonIn",
    "RescueOut",
    "RescueReportIn",
    "SlaClockOut",
    "TrappedIn",
    "WorkOrderOut",
    "WorkOrderPageOut",
    "WorkOrderQuery",
    "WorkOrderSummaryOut",
]

ORDER_ID_PATTERN: Final = r"^WO-\d{4}-\d{6}$"
ALARM_ID_PATTERN: Final = r"^ALM-[0-9a-f]{32}$"
SORT_PATTERN: Final = rf"^-?({'|'.join(k.value for k in SortKey)})$"

Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=NOT_BLANK),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=NOT_BLANK),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Code = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
]
Money = Annotated[
    Decimal,
    Field(ge=0, le=amount_limit(9), max_digits=14, decimal_places=2),
    amount_schema(9),
]
PLACE_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff/<>]+$"
"""A place: one line of text in any script, with spaces ('B1 lift lobby', '3号楼大堂'); no
control or invisible formatting characters (line breaks, bidi overrides, zero widths),
no '/' (it ends the asset key's place) and no '<' or '>' (markup)."""
_PLACE: Final = re.compile(PLACE_PATTERN)


def _plain_place(text: str) -> str:
    if not _PLACE.match(text):
        raise PydanticCustomError(
            "place_text",
            "write the place as one line of plain text: no control characters, '/', '<' or '>'",
        )
    return text


# Where in a building, as a resident says it ('5楼走廊', 'lift-2'): free text, one line.
Place = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_plain_place),
    Field(json_schema_extra={"pattern": PLACE_PATTERN}),
]


GbtCode = Annotated[
    str | None, Field(description="the GB/T 24476 fault/event/alarm code regulators know it by")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests ------------------------------------------------------------------------------


class NewWorkOrderIn(_In):
    """Staff open an order for an asset (a device key or a place)."""

    title: Title
    site: Code
    asset: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    category: Code
    fault_kind: Code
    priority: Priority
    location: Annotated[str, StringConstraints(max_length=200)] | None = None
    description: Text | None = None
    requested_by: Name | None = Field(
        default=None, description="the resident (username) the order is raised for, if any"
    )


class NewRequestIn(_In):
    """A resident raises a need about a place in their building."""

    title: Title
    place: Place = Field(
        description="where in the building, one line of text without '/', '<' or '>':"
        " 'stairwell', 'B1 lift lobby', '5楼走廊'..."
    )
    category: Code = Field(description="'lighting', 'elevator', 'plumbing', 'cleaning'...")
    description: Text | None = None
    site: Code | None = Field(default=None, description="default: the resident's only site")
    building: Place | None = Field(
        default=None, description="default: the resident's own (a QR code names another)"
    )
    urgent: bool = Field(default=False, description="P2 instead of the usual P3")


class AssignIn(_In):
    assignee: Name


class ReasonIn(_In):
    reason: Text


class NoteIn(_In):
    """An optional note (resolve, verify, approve, request-approval)."""

    note: Text | None = None


class CostIn(_In):
    """An estimate, an actual cost, or both (at least one of them, not null)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                for name in ("estimate", "actual")
            ]
        },
    )

    estimate: Money | None = None
    actual: Money | None = Field(default=None, validate_default=True)

    @field_validator("actual")
    @classmethod
    def _one_of_them(cls, actual: Decimal | None, info: ValidationInfo) -> Decimal | None:
        # Checked on the last field, so the 422 names one (a model check names none).
        if actual is None and "estimate" in info.data and info.data["estimate"] is None:
            raise ValueError("give an estimate or an actual cost (or both)")
        return actual


class ArriveIn(_In):
    """The technician is on site; the phone's location if it gave one (both or neither)."""

    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None


RescueCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[0-9A-Za-z]{4,12}$")
]


class RescueReportIn(_In):
    """The duty room enters an entrapment: the car by its rescue code, or by site and
    device id."""

    rescue_code: RescueCode | None = None
    site: Code | None = None
    device_id: Code | None = None
    description: Text | None = Field(
        default=None, description="what the caller said: how many inside, anyone hurt"
    )


class TrappedIn(_In):
    """A resident (or anyone with an account) is trapped in the car with this code."""

    rescue_code: RescueCode = Field(description="the code shown in the car and on its QR page")
    description: Text | None = None


class RateIn(_In):
    stars: Annotated[int, Field(ge=1, le=5, strict=True)]
    comment: Text | None = None


class CommentIn(_In):
    text: Text
    public: bool = Field(default=True, description="visible to the requesting resident")


# -- responses -----------------------------------------------------------------------------

RESOLUTION: Final = (
    "how a closed order ended when not through its steps: self_cleared (its only alarm"
    " cleared before anyone acknowledged it; closed by the system, not repaired); null"
    " otherwise"
)


class WorkOrderSummaryOut(BaseModel):
    id: str
    title: str
    site: str
    asset: str
    location: str | None
    category: str
    priority: Priority
    status: Status
    source: str
    assignee: str | None
    requested_by: str | None
    created_at: datetime
    due_at: datetime | None = Field(description="when the earliest running SLA clock is due")
    overdue: bool
    gbt24476_code: GbtCode = None
    resolution: Resolution | None = Field(default=None, description=RESOLUTION)

    @classmethod
    def of(cls, summary: WorkOrderSummary) -> WorkOrderSummaryOut:
        return cls.model_validate(summary, from_attributes=True)


class WorkOrderPageOut(BaseModel):
    items: list[WorkOrderSummaryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: last")
    limit: int

    @classmethod
    def of(cls, page: Page[WorkOrderSummary]) -> WorkOrderPageOut:
        # One validation of the whole page: pydantic-core walks the items itself, a third
        # cheaper than a Python call for each.
        return cls.model_validate(page, from_attributes=True)


class SlaClockOut(BaseModel):
    name: str
    target_minutes: int
    elapsed_minutes: int
    remaining_minutes: int
    breached: bool
    running: bool
    paused: bool
    due_at: datetime | None
    stopped_at: datetime | None

    @classmethod
    def of(cls, clock: SlaClock) -> SlaClockOut:
        return cls(
            name=clock.name,
            target_minutes=int(clock.target.total_seconds() // 60),
            elapsed_minutes=clock.elapsed_minutes,
            remaining_minutes=clock.remaining_minutes,
            breached=clock.breached,
            running=clock.running,
            paused=clock.paused,
            due_at=clock.due_at,
            stopped_at=clock.stopped_at,
        )


class HistoryOut(BaseModel):
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> HistoryOut:
        return cls(
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            from_state=entry.from_state,
            to_state=entry.to_state,
            reason=entry.reason,
            detail=dict(entry.detail),
        )


class NoteOut(BaseModel):
    by: str
    at: datetime
    text: str
    public: bool


class RatingOut(BaseModel):
    stars: int
    comment: str | None
    at: datetime


class ArrivalOut(BaseModel):
    by: str
    at: datetime
    latitude: float | None
    longitude: float | None

    @classmethod
    def of(cls, arrival: Arrival) -> ArrivalOut:
        return cls(
            by=arrival.by.user_id,
            at=arrival.at,
            latitude=arrival.latitude,
            longitude=arrival.longitude,
        )


class ChainStepOut(BaseModel):
    level: int
    notify: str
    party: str
    after_minutes: int
    sent_at: datetime | None = Field(description="when this step was told; null: not (yet)")


class RescueOut(BaseModel):
    """A rescue order's timeline, targets and escalation chain."""

    stage: Stage
    reported_at: datetime
    responded_at: datetime | None
    arrived_at: datetime | None
    released_at: datetime | None
    ended_at: datetime | None
    false_alarm_reason: str | None
    respond_within_minutes: int
    arrive_within_minutes: int
    arrive_by: datetime = Field(description="the report plus the site's arrival target")
    contracted_maintainer: str | None
    arrival_minutes: float | None
    rescue_minutes: float | None = Field(description="from the report to the release")
    chain: list[ChainStepOut]

    @classmethod
    def of(cls, rescue: Rescue, sent: list[SentEscalation]) -> RescueOut:
        told = {e.level: e.at for e in sent if e.clock == RESCUE_CLOCK}
        targets = rescue.targets
        arrival, duration = rescue.arrival_time, rescue.rescue_duration
        return cls(
            stage=rescue.stage,
            reported_at=rescue.reported_at,
            responded_at=rescue.responded_at,
            arrived_at=rescue.arrived_at,
            released_at=rescue.released_at,
            ended_at=rescue.ended_at,
            false_alarm_reason=rescue.false_alarm_reason,
            respond_within_minutes=targets.respond_within // MINUTE,
            arrive_within_minutes=targets.arrive_within // MINUTE,
            arrive_by=rescue.reported_at + targets.arrive_within,
            contracted_maintainer=targets.contracted_maintainer,
            arrival_minutes=None if arrival is None else arrival / MINUTE,
            rescue_minutes=None if duration is None else duration / MINUTE,
            chain=[
                ChainStepOut(
                    level=step.level,
                    notify=step.notify,
                    party=step.party,
                    after_minutes=step.after // MINUTE,
                    sent_at=told.get(step.level),
                )
                for step in targets.chain
            ],
        )


class WorkOrderOut(BaseModel):
    id: str
    title: str
    site: str
    asset: str
    location: str | None
    category: str
    fault_kind: str
    priority: Priority
    source: str
    status: Status
    created_at: datetime
    requested_by: str | None
    description: str | None
    repeat_of: str | None
    assignee: str | None
    alarm_ids: list[str]
    acknowledged_at: datetime | None
    first_feedback_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    cost_estimate: Decimal | None
    cost_actual: Decimal | None
    cancel_reason: str | None
    resolution: Resolution | None = Field(description=RESOLUTION)
    notes: list[NoteOut]
    rating: RatingOut | None
    allowed_actions: list[str] = Field(description="state-machine actions the status allows")
    arrivals: list[ArrivalOut]
    rescue: RescueOut | None = Field(description="a rescue order's timeline; null for others")
    due_at: datetime | None = Field(
        description="when the earliest running SLA clock is due (as in the list)"
    )
    clocks: list[SlaClockOut]
    history: list[HistoryOut]
    gbt24476_code: GbtCode = None

    @classmethod
    def of(cls, detail: WorkOrderDetail, *, for_resident: bool = False) -> WorkOrderOut:
        order = detail.order
        notes = [n for n in order.notes if n.public or not for_resident]
        history = [e for e in detail.history if not (for_resident and _private_note(e))]
        rating = order.rating
        return cls(
            id=order.id,
            title=order.title,
            site=order.site,
            asset=order.asset,
            location=order.location,
            category=order.category,
            fault_kind=order.fault_kind,
            priority=order.priority,
            source=order.source,
            status=order.status,
            created_at=order.created_at,
            requested_by=order.requested_by,
            description=order.description,
            repeat_of=order.repeat_of,
            assignee=order.assignee,
            alarm_ids=list(order.alarm_ids),
            acknowledged_at=order.acknowledged_at,
            first_feedback_at=order.first_feedback_at,
            resolved_at=order.resolved_at,
            closed_at=order.closed_at,
            cost_estimate=order.cost_estimate,
            cost_actual=order.cost_actual,
            cancel_reason=order.cancel_reason,
            resolution=order.resolution,
            notes=[NoteOut(by=n.by.user_id, at=n.at, text=n.text, public=n.public) for n in notes],
            rating=None
            if rating is None
            else RatingOut(stars=rating.stars, comment=rating.comment, at=rating.at),
            allowed_actions=[a.value for a in order.allowed_actions],
            arrivals=[ArrivalOut.of(arrival) for arrival in order.arrivals],
            rescue=None if order.rescue is None else RescueOut.of(order.rescue, order.escalations),
            due_at=detail.due_at,
            clocks=[SlaClockOut.of(clock) for clock in detail.clocks],
            history=[HistoryOut.of(entry) for entry in history],
            gbt24476_code=order.code,
        )


def _private_note(entry: AuditEntry) -> bool:
    return entry.action.endswith(".comment") and entry.detail.get("public") == "False"


class AlarmOut(BaseModel):
    id: str
    rule: str
    site: str
    device_type: str
    device_id: str
    building: str | None
    severity: Severity
    priority: Priority | None
    fault_kind: str
    message: str
    raised_at: datetime
    last_seen: datetime
    count: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    cleared_at: datetime | None
    work_order_id: str | None
    gbt24476_code: GbtCode = None

    @classmethod
    def of(cls, alarm: AlarmSummary) -> AlarmOut:
        return cls.model_validate(alarm, from_attributes=True)

    @classmethod
    def from_alarm(cls, alarm: Alarm) -> AlarmOut:
        by = alarm.acknowledged_by
        return cls(
            id=alarm.id,
            rule=alarm.rule,
            site=alarm.device.site,
            device_type=alarm.device.device_type,
            device_id=alarm.device.device_id,
            building=alarm.building,
            severity=alarm.severity,
            priority=alarm.priority,
            fault_kind=alarm.fault_kind,
            message=alarm.message,
            raised_at=alarm.raised_at,
            last_seen=alarm.last_seen,
            count=alarm.count,
            acknowledged_by=by.user_id if by else None,
            acknowledged_at=alarm.acknowledged_at,
            cleared_at=alarm.cleared_at,
            work_order_id=alarm.work_order_id,
            gbt24476_code=alarm.code,
        )


class AlarmPageOut(BaseModel):
    items: list[AlarmOut]
    next_cursor: str | None
    limit: int

    @classmethod
    def of(cls, page: Page[AlarmSummary]) -> AlarmPageOut:
        return cls(
            items=[AlarmOut.of(item) for item in page.items],
            next_cursor=page.next_cursor,
            limit=page.limit,
        )


# -- query strings -------------------------------------------------------------------------


class _PageQuery(BaseModel):
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE
    cursor: Annotated[str, Field(max_length=512)] | None = Field(
        default=None, description="the next_cursor of the previous page"
    )

    def page(self) -> PageRequest:
        return PageRequest(self.limit, self.cursor)


class WorkOrderQuery(_PageQuery):
    """``?status=new&status=assigned&site=...&sort=-created_at&limit=50``."""

    status: list[Status] = Field(default_factory=list, max_length=len(Status))
    priority: list[Priority] = Field(default_factory=list, max_length=4)
    site: Code | None = None
    building: Code | None = None
    asset: Annotated[str, StringConstraints(max_length=300)] | None = None
    assignee: Name | None = None
    overdue: bool | None = None
    sort: Annotated[str, Field(pattern=SORT_PATTERN)] = Field(
        default="-created_at", description="created_at, priority, status or due; '-' descending"
    )

    def filters(self) -> WorkOrderFilters:
        return WorkOrderFilters(
            status=frozenset(self.status),
            priority=frozenset(self.priority),
            site=self.site,
            building=self.building,
            asset=self.asset,
            assignee=self.assignee,
            overdue=self.overdue,
        )


class AlarmQuery(_PageQuery):
    site: Code | None = None
    building: Code | None = None
    device_type: Code | None = None
    device_id: Code | None = None
    severity: list[Severity] = Field(default_factory=list, max_length=4)
    active: bool | None = None
    acknowledged: bool | None = None
    work_order_id: Annotated[str, Field(pattern=ORDER_ID_PATTERN)] | None = None

    def filters(self) -> AlarmFilters:
        return AlarmFilters(
            site=self.site,
            building=self.building,
            device_type=self.device_type,
            device_id=self.device_id,
            severity=frozenset(self.severity),
            active=self.active,
            acknowledged=self.acknowledged,
            work_order_id=self.work_order_id,
        )


class NotificationAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    result: Literal["delivered", "retrying", "refused", "gave_up"]
    detail: str | None


class NotificationOut(BaseModel):
    """A message about the order to one recipient on one channel, and its attempts."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    channel: str
    recipient: str
    language: str
    count: int
    """Repeats folded into this message."""
    status: Literal["pending", "sent", "failed"]
    created_at: datetime
    settled_at: datetime | None
    attempts: list[NotificationAttemptOut]
