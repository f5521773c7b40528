"""Work orders and their state machine.

    new > assigned > acknowledged > in_progress > resolved > verified > closed

with detours:

- ``on_hold`` (hold, with a reason) from acknowledged, in_progress or approved; ``resume``
  returns to in_progress. Hold time pauses every SLA clock (:mod:`.sla`). Holding is
  refused before acknowledgement, so a hold cannot hide a late response.
- Spending: ``request_approval`` (from acknowledged, in_progress or rejected, with a cost
  estimate) > ``awaiting_approval`` > ``approve`` (committee or admin; records who, when
  and the amount) > ``approved`` > ``start`` > in_progress to do the work; or ``reject``
  (with a reason) > ``rejected``, from where the team either lowers the estimate and
  starts, asks again with a revised plan, or cancels. Work may not go on (``start``,
  ``resume``, ``resolve``) while the cost estimate exceeds the approval threshold and no
  approval covers it: that raises :class:`NotPermitted`.
- ``fail_verification`` (with a reason) sends a resolved order to ``reopened``; from there
  it is re-assigned or started again. ``cancel`` (with a reason) from any state before
  resolved.
- ``assign`` also re-assigns (from assigned, acknowledged, in_progress, reopened): the new
  assignee acknowledges again; the response clock keeps its first acknowledgement.
- Self-cleared: an alarm's order (not P1) whose only alarm cleared before anyone
  acknowledged either closes by itself (:meth:`WorkOrder.close_self_cleared`, from new or assigned,
  no actor) with ``resolution`` ``self_cleared``: kept, counted apart from repairs
  (:mod:`.kpis`), never resolved or verified. The rule is
  :func:`maintenance.domain.alarms.self_clears`.

Actions that keep the state: ``comment``, ``set_cost``, ``rate`` (resolved, verified or
closed; the requesting resident, 1-5, once), ``arrive`` (a technician confirms arrival on
site, optionally with the phone's location; any open order before resolved, except on
hold).

Rescue orders (category ``rescue``, :mod:`.rescue`) carry a rescue timeline and take
three more actions: ``release`` (passengers released; keeps the state),
``return_to_service`` (the car is back in service: resolves the order, like ``resolve``)
and ``false_alarm`` (with a reason: cancels the order, like ``cancel``). Acknowledging
and arriving move the timeline too. Other orders refuse these three
(:func:`allowed_actions` leaves them out).

**First feedback** (the "report back within 1 hour" clock) is the first of: a staff note
marked visible to the requester, or ``start``, ``hold``, ``request_approval`` or
``resolve``, each of which tells the requester where the work stands. Acknowledging is the
response, not feedback.

An order is *open* from ``new`` until ``closed`` or ``cancelled``; at most one open order
exists per (asset, fault kind) (see :mod:`.alarms`). The asset is a text key: for a device
``str(DeviceRef)`` (``site/device_type/device_id``), for a resident request whatever the
API names (``site/building/B3/stairwell``).

``TRANSITIONS`` is the table as data, so tests and the API can enumerate it. Every change
appends a :class:`~maintenance.domain.events.DomainEvent` to ``pending_events``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from maintenance.domain.actors import STAFF_ROLES, Actor
from maintenance.domain.errors import IllegalTransition, InvalidRequest, NotPermitted
from maintenance.domain.events import DomainEvent
from maintenance.domain.rescue import Rescue, RescueTargets, Step
from maintenance.domain.signals import Priority

Source = Literal["alarm", "staff", "resident"]


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"


class Resolution(StrEnum):
    """How a closed order ended when not through its steps."""

    SELF_CLEARED = "self_cleared"


SELF_CLEARED = Resolution.SELF_CLEARED


class Action(StrEnum):
    ASSIGN = "assign"
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    HOLD = "hold"
    RESUME = "resume"
    REQUEST_APPROVAL = "request_approval"
    APPROVE = "approve"
    REJECT = "reject"
    RESOLVE = "resolve"
    VERIFY = "verify"
    FAIL_VERIFICATION = "fail_verification"
    CLOSE = "close"
    CANCEL = "cancel"
    RATE = "rate"
    COMMENT = "comment"
    SET_COST = "set_cost"
    ARRIVE = "arrive"
    RELEASE = "release"
    RETURN_TO_SERVICE = "return_to_service"
    FALSE_ALARM = "false_alarm"


S = Status
TERMINAL: frozenset[Status] = frozenset({S.CLOSED, S.CANCELLED})
_BEFORE_RESOLVED = (
    S.NEW,
    S.ASSIGNED,
    S.ACKNOWLEDGED,
    S.IN_PROGRESS,
    S.ON_HOLD,
    S.AWAITING_APPROVAL,
    S.APPROVED,
    S.REJECTED,
    S.REOPENED,
)
_DONE = (S.RESOLVED, S.VERIFIED, S.CLOSED)
SELF_CLEARABLE: frozenset[Status] = frozenset({S.NEW, S.ASSIGNED})
"""Where an order may close as self-cleared: nobody has acknowledged it yet."""


def _to(target: Status, *sources: Status) -> dict[Status, Status]:
    return dict.fromkeys(sources, target)


def _stay(*states: Status) -> dict[Status, Status]:
    return {state: state for state in states}


TRANSITIONS: Mapping[Action, Mapping[Status, Status]] = {
    Action.ASSIGN: _to(S.ASSIGNED, S.NEW, S.ASSIGNED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.REOPENED),
    Action.ACKNOWLEDGE: _to(S.ACKNOWLEDGED, S.ASSIGNED),
    Action.START: _to(S.IN_PROGRESS, S.ACKNOWLEDGED, S.APPROVED, S.REJECTED, S.REOPENED),
    Action.HOLD: _to(S.ON_HOLD, S.ACKNOWLEDGED, S.IN_PROGRESS, S.APPROVED),
    Action.RESUME: _to(S.IN_PROGRESS, S.ON_HOLD),
    Action.REQUEST_APPROVAL: _to(S.AWAITING_APPROVAL, S.ACKNOWLEDGED, S.IN_PROGRESS, S.REJECTED),
    Action.APPROVE: _to(S.APPROVED, S.AWAITING_APPROVAL),
    Action.REJECT: _to(S.REJECTED, S.AWAITING_APPROVAL),
    Action.RESOLVE: _to(S.RESOLVED, S.ACKNOWLEDGED, S.IN_PROGRESS),
    Action.VERIFY: _to(S.VERIFIED, S.RESOLVED),
    Action.FAIL_VERIFICATION: _to(S.REOPENED, S.RESOLVED),
    Action.CLOSE: _to(S.CLOSED, S.VERIFIED),
    Action.CANCEL: _to(S.CANCELLED, *_BEFORE_RESOLVED),
    Action.RATE: _stay(*_DONE),
    Action.COMMENT: _stay(*Status),
    Action.SET_COST: _stay(*(s for s in Status if s is not S.CANCELLED)),
    Action.ARRIVE: _stay(*(s for s in _BEFORE_RESOLVED if s is not S.ON_HOLD)),
    Action.RELEASE: _stay(*_BEFORE_RESOLVED),
    Action.RETURN_TO_SERVICE: _to(S.RESOLVED, S.ACKNOWLEDGED, S.IN_PROGRESS),
    Action.FALSE_ALARM: _to(S.CANCELLED, *_BEFORE_RESOLVED),
}
"""action -> {state it is allowed in: state it leads to}."""

RESCUE_STEPS: Mapping[Action, Step] = {
    Action.RELEASE: Step.RELEASE,
    Action.RETURN_TO_SERVICE: Step.RETURN_TO_SERVICE,
    Action.FALSE_ALARM: Step.FALSE_ALARM,
}
"""The actions only a rescue order takes, and the step of its timeline each makes."""


def allowed_actions(status: Status, rescue: Rescue | None = None) -> list[Action]:
    """What an order in ``status`` may do; the rescue actions only when ``rescue`` (the
    order's timeline) allows their step."""
    return [
        action
        for action, sources in TRANSITIONS.items()
        if status in sources
        and (
            action not in RESCUE_STEPS
            or (rescue is not None and rescue.allows(RESCUE_STEPS[action]))
        )
    ]


REPEAT_WINDOW = timedelta(days=30)
"""A fault that returns within this time of its order closing counts as a repeat fault."""


def repeat_of(last_closed: WorkOrder | None, now: datetime) -> str | None:
    """The id of ``last_closed`` if a new order opened at ``now`` repeats its fault."""
    if last_closed is None or last_closed.closed_at is None:
        return None
    return last_closed.id if now - last_closed.closed_at <= REPEAT_WINDOW else None


def format_order_id(year: int, number: int) -> str:
    """``format_order_id(2026, 123) == "WO-2026-000123"``."""
    return f"WO-{year:04d}-{number:06d}"


@dataclass(frozen=True, slots=True)
class Note:
    by: Actor
    at: datetime
    text: str
    public: bool
    """Visible to the requester (and so feedback when written by staff)."""


@dataclass(slots=True)
class Hold:
    by: Actor
    reason: str
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Approval:
    by: Actor
    at: datetime
    approved: bool
    amount: Decimal
    """The cost estimate the decision was about."""
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    by: Actor
    at: datetime
    passed: bool
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Rating:
    by: Actor
    at: datetime
    stars: int
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Arrival:
    """A technician confirmed arrival on site (the phone's location, if it gave one)."""

    by: Actor
    at: datetime
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class SentEscalation:
    """An SLA escalation already sent, so each (clock, level) fires once per order."""

    clock: str
    level: int
    notify: str
    at: datetime


@dataclass(eq=False)
class WorkOrder:
    """A repair job. Create with :meth:`open`; change only through the action methods.

    Every action method takes the acting :class:`Actor` and ``now`` (from the injected
    clock), checks the transition and the rule, changes the order and appends an event.
    """

    id: str
    title: str
    asset: str
    site: str
    location: str | None
    category: str
    fault_kind: str
    priority: Priority
    source: Source
    created_at: datetime
    status: Status = Status.NEW
    created_by: Actor | None = None
    requested_by: str | None = None
    """User id of the resident (or staff member) who asked for the work; None for alarms."""
    description: str | None = None
    repeat_of: str | None = None
    """The closed order for the same fault this one repeats (returned within 30 days)."""
    alarm_ids: list[str] = field(default_factory=list)
    assignee: str | None = None
    entered_at: dict[Status, datetime] = field(default_factory=dict)
    """When the order last entered each state."""
    acknowledged_at: datetime | None = None
    """First acknowledgement: stops the response clock."""
    first_feedback_at: datetime | None = None
    resolved_at: datetime | None = None
    """Latest resolution; cleared when verification fails."""
    resolvers: list[str] = field(default_factory=list)
    closed_at: datetime | None = None
    cost_estimate: Decimal | None = None
    cost_actual: Decimal | None = None
    holds: list[Hold] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    rating: Rating | None = None
    cancel_reason: str | None = None
    resolution: Resolution | None = None
    """How a closed order ended when not through its steps: ``self_cleared``."""
    escalations: list[SentEscalation] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    rescue: Rescue | None = None
    """The rescue timeline of a rescue order (category ``rescue``); None for others."""
    code: str | None = None
    """The GB/T 24476 code of the alarm that opened it (:mod:`estatewatch.gbt24476`)."""
    pending_events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def open(
        cls,
        *,
        id: str,
        title: str,
        asset: str,
        site: str,
        category: str,
        fault_kind: str,
        priority: Priority,
        source: Source,
        now: datetime,
        location: str | None = None,
        created_by: Actor | None = None,
        requested_by: str | None = None,
        description: str | None = None,
        repeat_of: str | None = None,
        alarm_ids: tuple[str, ...] = (),
        rescue: RescueTargets | None = None,
        code: str | None = None,
    ) -> WorkOrder:
        """``rescue``: the site's rescue targets, for a rescue order (its timeline starts
        now, reported)."""
        if not title.strip():
            raise InvalidRequest("a work order needs a title")
        if now.utcoffset() is None:
            raise InvalidRequest(f"work order {id}: creation time {now} has no timezone")
        order = cls(
            id=id,
            title=title,
            asset=asset,
            site=site,
            location=location,
            category=category,
            fault_kind=fault_kind,
            priority=priority,
            source=source,
            created_at=now,
            created_by=created_by,
            requested_by=requested_by,
            description=description,
            repeat_of=repeat_of,
            alarm_ids=list(alarm_ids),
            entered_at={Status.NEW: now},
            rescue=None if rescue is None else Rescue(targets=rescue, reported_at=now),
            code=code,
        )
        detail = {"priority": priority, "source": source, "asset": asset}
        if repeat_of:
            detail["repeat_of"] = repeat_of
        order._emit("created", created_by, now, None, Status.NEW, detail=detail)
        return order

    # -- queries -------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def is_repeat_fault(self) -> bool:
        return self.repeat_of is not None

    def approval_covers_estimate(self, threshold: Decimal) -> bool:
        """True when no approval is needed, or an approval covers the current estimate."""
        estimate = self.cost_estimate
        if estimate is None or estimate <= threshold:
            return True
        return any(a.approved and a.amount >= estimate for a in self.approvals)

    def pull_events(self) -> list[DomainEvent]:
        events, self.pending_events = self.pending_events, []
        return events

    # -- state-machine actions -----------------------------------------------------

    def assign(self, actor: Actor, now: datetime, *, assignee: str) -> None:
        if not assignee.strip():
            raise InvalidRequest(f"work order {self.id}: assign needs an assignee")
        self._transition(Action.ASSIGN, actor, now, detail={"assignee": assignee})
        self.assignee = assignee

    def acknowledge(self, actor: Actor, now: datetime) -> None:
        self._transition(Action.ACKNOWLEDGE, actor, now)
        if self.acknowledged_at is None:
            self.acknowledged_at = now
        if self.rescue is not None and self.rescue.allows(Step.RESPOND):
            self.rescue.step(self.id, Step.RESPOND, now)

    def arrive(
        self,
        actor: Actor,
        now: datetime,
        *,
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> None:
        """Record an arrival on site; the first one stops a rescue's arrival clock."""
        self._check(Action.ARRIVE)
        if (latitude is None) != (longitude is None):
            raise InvalidRequest(
                f"work order {self.id}: a location needs both latitude and longitude"
            )
        if (
            latitude is not None
            and longitude is not None
            and not (-90 <= latitude <= 90 and -180 <= longitude <= 180)
        ):
            raise InvalidRequest(
                f"work order {self.id}: location {latitude}, {longitude} is not a latitude"
                " (-90 to 90) and a longitude (-180 to 180)"
            )
        detail = (
            {} if latitude is None else {"latitude": str(latitude), "longitude": str(longitude)}
        )
        self._transition(Action.ARRIVE, actor, now, detail=detail)
        self.arrivals.append(Arrival(actor, now, latitude, longitude))
        if self.rescue is not None and self.rescue.allows(Step.ARRIVE):
            self.rescue.step(self.id, Step.ARRIVE, now)

    def release(self, actor: Actor, now: datetime, *, note: str | None = None) -> None:
        """A rescue order's passengers are out of the car."""
        self._rescue_action(Action.RELEASE, actor, now, reason=note)
        self._feedback(now)

    def start(self, actor: Actor, now: datetime, *, approval_threshold: Decimal) -> None:
        self._check(Action.START)
        self._require_spending_cleared(Action.START, approval_threshold)
        self._transition(Action.START, actor, now)
        self._feedback(now)

    def hold(self, actor: Actor, now: datetime, *, reason: str) -> None:
        self._check(Action.HOLD)
        reason = _required(reason, self.id, Action.HOLD)
        self._transition(Action.HOLD, actor, now, reason=reason)
        self.holds.append(Hold(by=actor, reason=reason, started_at=now))
        self._feedback(now)

    def resume(self, actor: Actor, now: datetime, *, approval_threshold: Decimal) -> None:
        self._check(Action.RESUME)
        self._require_spending_cleared(Action.RESUME, approval_threshold)
        self._transition(Action.RESUME, actor, now)
        self.holds[-1].ended_at = now

    def request_approval(self, actor: Actor, now: datetime, *, reason: str | None = None) -> None:
        self._check(Action.REQUEST_APPROVAL)
        if self.cost_estimate is None:
            raise InvalidRequest(
                f"work order {self.id}: set a cost estimate before requesting approval"
            )
        self._transition(
            Action.REQUEST_APPROVAL,
            actor,
            now,
            reason=reason,
            detail={"amount": str(self.cost_estimate)},
        )
        self._feedback(now)

    def approve(self, actor: Actor, now: datetime, *, reason: str | None = None) -> None:
        self._decide(actor, now, approved=True, reason=reason)

    def reject(self, actor: Actor, now: datetime, *, reason: str) -> None:
        self._decide(actor, now, approved=False, reason=_required(reason, self.id, Action.REJECT))

    def resolve(
        self, actor: Actor, now: datetime, *, approval_threshold: Decimal, note: str | None = None
    ) -> None:
        self._check(Action.RESOLVE)
        self._require_spending_cleared(Action.RESOLVE, approval_threshold)
        self._transition(Action.RESOLVE, actor, now, reason=note)
        self._resolved_by(actor, now)

    def return_to_service(
        self, actor: Actor, now: datetime, *, approval_threshold: Decimal, note: str | None = None
    ) -> None:
        """A rescue order's car is back in service: the rescue ends and the order resolves
        (verification and closing follow as for any order)."""
        self._check(Action.RETURN_TO_SERVICE)
        self._require_spending_cleared(Action.RETURN_TO_SERVICE, approval_threshold)
        self._rescue_action(Action.RETURN_TO_SERVICE, actor, now, reason=note)
        self._resolved_by(actor, now)

    def _resolved_by(self, actor: Actor, now: datetime) -> None:
        self.resolved_at = now
        if actor.user_id not in self.resolvers:
            self.resolvers.append(actor.user_id)
        self._feedback(now)

    def verify(self, actor: Actor, now: datetime, *, note: str | None = None) -> None:
        self._verification(Action.VERIFY, actor, now, passed=True, note=note)

    def fail_verification(self, actor: Actor, now: datetime, *, reason: str) -> None:
        reason = _required(reason, self.id, Action.FAIL_VERIFICATION)
        self._verification(Action.FAIL_VERIFICATION, actor, now, passed=False, note=reason)
        self.resolved_at = None

    def close(self, actor: Actor, now: datetime) -> None:
        self._transition(Action.CLOSE, actor, now)
        self.closed_at = now

    def close_self_cleared(self, now: datetime) -> None:
        """Its alarm cleared before anyone acknowledged: closed by the system, kept."""
        if self.status not in SELF_CLEARABLE or self.acknowledged_at is not None:
            raise InvalidRequest(
                f"work order {self.id} is {self.status} and was acknowledged: it cannot close"
                " as self-cleared; it is worked through its steps"
            )
        before, self.status = self.status, Status.CLOSED
        self.entered_at[Status.CLOSED] = now
        self.closed_at, self.resolution = now, SELF_CLEARED
        detail = {"resolution": SELF_CLEARED.value}
        self._emit(SELF_CLEARED.value, None, now, before, Status.CLOSED, detail)

    def cancel(self, actor: Actor, now: datetime, *, reason: str) -> None:
        self._check(Action.CANCEL)
        reason = _required(reason, self.id, Action.CANCEL)
        self._transition(Action.CANCEL, actor, now, reason=reason)
        self._cancelled(reason, now)

    def false_alarm(self, actor: Actor, now: datetime, *, reason: str) -> None:
        """Nobody was trapped: the rescue ends as a false alarm and the order is cancelled
        with the reason."""
        reason = _required(reason, self.id, Action.FALSE_ALARM)
        self._rescue_action(Action.FALSE_ALARM, actor, now, reason=reason)
        self._cancelled(reason, now)

    def _cancelled(self, reason: str, now: datetime) -> None:
        self.cancel_reason = reason
        if self.holds and self.holds[-1].ended_at is None:
            self.holds[-1].ended_at = now

    def rate(self, actor: Actor, now: datetime, *, stars: int, comment: str | None = None) -> None:
        self._check(Action.RATE)
        if actor.role != "resident" or actor.user_id != self.requested_by:
            raise NotPermitted(
                f"work order {self.id}: only the resident who requested it may rate it, not {actor}"
            )
        if self.rating is not None:
            raise InvalidRequest(f"work order {self.id}: already rated by {self.rating.by}")
        if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
            raise InvalidRequest(f"work order {self.id}: a rating is 1 to 5 stars, not {stars!r}")
        self._transition(Action.RATE, actor, now, reason=comment, detail={"stars": str(stars)})
        self.rating = Rating(by=actor, at=now, stars=stars, comment=comment)

    def comment(self, actor: Actor, now: datetime, *, text: str, public: bool = True) -> None:
        text = _required(text, self.id, Action.COMMENT)
        self._transition(Action.COMMENT, actor, now, reason=text, detail={"public": str(public)})
        self.notes.append(Note(by=actor, at=now, text=text, public=public))
        if public and actor.role in STAFF_ROLES:
            self._feedback(now)

    def set_cost(
        self,
        actor: Actor,
        now: datetime,
        *,
        estimate: Decimal | None = None,
        actual: Decimal | None = None,
    ) -> None:
        self._check(Action.SET_COST)
        if estimate is None and actual is None:
            raise InvalidRequest(f"work order {self.id}: set_cost needs an estimate or an actual")
        detail: dict[str, str] = {}
        for name, value in (("estimate", estimate), ("actual", actual)):
            if value is not None:
                if not value.is_finite() or value < 0:
                    raise InvalidRequest(f"work order {self.id}: {name} cost {value} is not >= 0")
                detail[name] = str(value)
        self._transition(Action.SET_COST, actor, now, detail=detail)
        if estimate is not None:
            self.cost_estimate = estimate
        if actual is not None:
            self.cost_actual = actual

    # -- changes made by the system, outside the state machine ----------------------

    def attach_alarm(
        self, alarm_id: str, now: datetime, priority: Priority | None, code: str | None = None
    ) -> None:
        """Link a further alarm for the same (asset, fault kind) to this open order.

        A more urgent alarm raises the order's priority (P1 is the most urgent): the SLA
        targets of the new priority then apply from the order's creation, so a response
        already late by the new standard escalates at the next check. An order without a
        GB/T 24476 code takes the alarm's ``code`` (a reported entrapment the rule then
        confirms); one that has a code keeps it.
        """
        if not self.is_open:
            raise InvalidRequest(f"work order {self.id} is {self.status}: cannot attach alarms")
        if self.code is None:
            self.code = code
        if alarm_id not in self.alarm_ids:
            self.alarm_ids.append(alarm_id)
            self._emit("alarm_attached", None, now, self.status, self.status, {"alarm": alarm_id})
        if priority is not None and priority < self.priority:
            detail = {"from": self.priority, "to": priority, "alarm": alarm_id}
            self.priority = priority
            self._emit("priority_raised", None, now, self.status, self.status, detail)

    def record_escalation(
        self,
        clock: str,
        level: int,
        notify: str,
        now: datetime,
        *,
        overdue_minutes: int | None = None,
    ) -> None:
        if any(e.clock == clock and e.level == level for e in self.escalations):
            raise InvalidRequest(f"work order {self.id}: {clock} level {level} already sent")
        self.escalations.append(SentEscalation(clock=clock, level=level, notify=notify, at=now))
        # What the people told need to read: how urgent, and how late.
        detail = {"clock": clock, "level": str(level), "notify": notify, "priority": self.priority}
        if overdue_minutes is not None:
            detail["overdue_minutes"] = str(overdue_minutes)
        self._emit("escalated", None, now, self.status, self.status, detail)

    # -- internals -----------------------------------------------------------------

    @property
    def allowed_actions(self) -> list[Action]:
        return allowed_actions(self.status, self.rescue)

    def _check(self, action: Action) -> Status:
        sources = TRANSITIONS[action]
        if self.status not in sources:
            raise IllegalTransition(self.id, self.status, action, self.allowed_actions)
        return sources[self.status]

    def _rescue_action(
        self, action: Action, actor: Actor, now: datetime, *, reason: str | None
    ) -> None:
        """Check the order's state and the rescue's stage, then change both."""
        self._check(action)
        step = RESCUE_STEPS[action]
        if self.rescue is None:
            raise InvalidRequest(f"work order {self.id} is not a rescue order: cannot {action}")
        self.rescue.step(self.id, step, now, reason=reason)  # refuses a step out of turn
        self._transition(action, actor, now, reason=reason, detail={"rescue": step.value})

    def _transition(
        self,
        action: Action,
        actor: Actor,
        now: datetime,
        *,
        reason: str | None = None,
        detail: Mapping[str, str] | None = None,
    ) -> None:
        target = self._check(action)
        before, self.status = self.status, target
        if target is not before:
            self.entered_at[target] = now
        self._emit(action.value, actor, now, before, target, detail or {}, reason)

    def _emit(
        self,
        action: str,
        actor: Actor | None,
        now: datetime,
        before: Status | None,
        after: Status,
        detail: Mapping[str, str],
        reason: str | None = None,
    ) -> None:
        self.pending_events.append(
            DomainEvent(
                subject="work_order",
                subject_id=self.id,
                action=action,
                at=now,
                actor=actor,
                from_status=before.value if before else None,
                to_status=after.value,
                reason=reason,
                detail=dict(detail),
            )
        )

    def _feedback(self, now: datetime) -> None:
        if self.first_feedback_at is None:
            self.first_feedback_at = now

    def _require_spending_cleared(self, action: Action, threshold: Decimal) -> None:
        if not self.approval_covers_estimate(threshold):
            raise NotPermitted(
                f"work order {self.id}: cannot {action}: the cost estimate "
                f"{self.cost_estimate} exceeds the approval threshold {threshold} and the "
                "committee has not approved it; request approval first"
            )

    def _decide(self, actor: Actor, now: datetime, *, approved: bool, reason: str | None) -> None:
        action = Action.APPROVE if approved else Action.REJECT
        self._check(action)
        if actor.role not in ("committee", "admin"):
            raise NotPermitted(
                f"work order {self.id}: only the owners' committee (or an admin) may {action}"
                f" spending, not {actor}"
            )
        amount = self.cost_estimate if self.cost_estimate is not None else Decimal(0)
        self._transition(action, actor, now, reason=reason, detail={"amount": str(amount)})
        self.approvals.append(
            Approval(by=actor, at=now, approved=approved, amount=amount, reason=reason)
        )

    def _verification(
        self, action: Action, actor: Actor, now: datetime, *, passed: bool, note: str | None
    ) -> None:
        self._check(action)
        if actor.user_id in self.resolvers:
            raise NotPermitted(
                f"work order {self.id}: {actor} resolved this order and so cannot verify it"
            )
        is_requester = actor.role == "resident" and actor.user_id == self.requested_by
        if actor.role != "supervisor" and not is_requester:
            raise NotPermitted(
                f"work order {self.id}: only an owners' supervisor or the requesting resident "
                f"may verify, not {actor}"
            )
        self._transition(action, actor, now, reason=note)
        self.verifications.append(Verification(by=actor, at=now, passed=passed, note=note))


def _required(text: str, order_id: str, action: Action) -> str:
    if not text or not text.strip():
        raise InvalidRequest(f"work order {order_id}: {action} needs a reason")
    return text.strip()
