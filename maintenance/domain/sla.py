"""Service levels: per-priority targets, the three clocks of a work order, escalations.

Clocks, all started when the order is created and paused while it is on hold:

- ``response``: until the first acknowledgement;
- ``feedback``: until the first feedback to the requester (defined in :mod:`.workorders`);
- ``resolution``: until resolved. When verification fails the order is reopened and the
  clock runs on from creation, so the time the failed fix sat "resolved" counts: the fault
  was not fixed.

A clock is breached when its active (unpaused) time exceeds the target; it is *due* at
the instant its active time reaches the target (:attr:`SlaClock.due_at`). An order's due
time (:func:`order_due_at`) is the earliest due time of its running clocks: the one rule
both the detail and the list show (the unit of work stores it on the order's row). Escalation level
``n`` is due when the active time exceeds the target plus the level's ``after`` (level 1
"manager" at the breach, level 2 "committee" 60 active minutes later by default). Sent
escalations are recorded on the order, so each (clock, level) fires once, also across
restarts. Closed and cancelled orders are not checked.

Default targets (minutes), configurable per priority in YAML (:meth:`SlaPolicy.load`):

    priority  acknowledge  feedback  resolve
    P1        10           60        240 (4 h)    the public "10 minutes, 1 hour" standard
    P2        30           120       1,440 (1 d)  e.g. charger over-temperature
    P3        120          480       4,320 (3 d)  degradation, device offline
    P4        480          1,440     10,080 (7 d) battery low, notices that became orders

A category may have its own targets, whatever the order's priority (``categories:``,
keyed by work-order category): scheduled maintenance visits (``maintenance_visit``) are
planned work, acknowledged within a day, started within two and done within five, and
the scheduler opens each visit that long before it is due (:mod:`.plans`).

The spending threshold above which committee approval is needed travels in the same
file: both are what the owners agree with the property manager.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from estatewatch.durations import parse_duration
from maintenance.domain.signals import Priority
from maintenance.domain.workorders import Hold, WorkOrder

ClockName = Literal["response", "feedback", "resolution"]
EscalationClock = ClockName | Literal["rescue"]
"""What an escalation is about: an SLA clock, or a rescue order's chain (:mod:`.rescue`)."""
MINUTE = timedelta(minutes=1)


def _as_minutes(value: object) -> timedelta:
    """A whole number of minutes: ``10`` (minutes) or a duration text such as ``4h``."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number of minutes")
    if isinstance(value, int | float):
        seconds = float(value) * 60
    elif isinstance(value, str):
        seconds = parse_duration(value) if not value.strip().isdigit() else float(value) * 60
    else:
        raise ValueError(f"{value!r} is not a number of minutes or a duration like 4h")
    if seconds % 60:
        raise ValueError(f"{value!r} is not a whole number of minutes")
    return timedelta(seconds=seconds)


Minutes = Annotated[timedelta, BeforeValidator(_as_minutes)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Targets(_Strict):
    acknowledge_within: Minutes
    feedback_within: Minutes
    resolve_within: Minutes

    @model_validator(mode="after")
    def _positive(self) -> Targets:
        for name in ("acknowledge_within", "feedback_within", "resolve_within"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be at least one minute")
        return self

    def for_clock(self, clock: ClockName) -> timedelta:
        match clock:
            case "response":
                return self.acknowledge_within
            case "feedback":
                return self.feedback_within
            case "resolution":
                return self.resolve_within


def _targets(ack: int, feedback: int, resolve: int) -> Targets:
    return Targets(
        acknowledge_within=timedelta(minutes=ack),
        feedback_within=timedelta(minutes=feedback),
        resolve_within=timedelta(minutes=resolve),
    )


class PriorityTargets(_Strict):
    """One entry per priority; a file may override only some."""

    P1: Targets = _targets(10, 60, 240)
    P2: Targets = _targets(30, 120, 1440)
    P3: Targets = _targets(120, 480, 4320)
    P4: Targets = _targets(480, 1440, 10080)


class EscalationLevel(_Strict):
    level: int = Field(ge=1)
    notify: str = Field(min_length=1)
    """The role told (``manager``, ``committee``); the service maps it to people."""
    after: Minutes = timedelta(0)
    """Active clock time past the target before this level fires."""


_DEFAULT_LEVELS = (
    EscalationLevel(level=1, notify="manager"),
    EscalationLevel(level=2, notify="committee", after=timedelta(minutes=60)),
)


_VISIT_TARGETS = _targets(1440, 2 * 1440, 5 * 1440)


class SlaPolicy(_Strict):
    targets: PriorityTargets = PriorityTargets()
    categories: dict[str, Targets] = {"maintenance_visit": _VISIT_TARGETS}
    """Targets of a work-order category, in place of its priority's."""
    escalation: tuple[EscalationLevel, ...] = _DEFAULT_LEVELS
    approval_threshold: Decimal = Field(default=Decimal(5000), ge=0)
    """Cost estimates above this need committee approval before work goes on."""

    @field_validator("escalation")
    @classmethod
    def _levels_in_order(cls, levels: tuple[EscalationLevel, ...]) -> tuple[EscalationLevel, ...]:
        if any(a.level >= b.level or a.after > b.after for a, b in pairwise(levels)):
            raise ValueError("levels must rise, each no sooner than the one before")
        return levels

    def for_priority(self, priority: Priority) -> Targets:
        targets: Targets = getattr(self.targets, priority)
        return targets

    def for_order(self, order: WorkOrder) -> Targets:
        return self.targets_of(order.category, order.priority)

    def targets_of(self, category: str, priority: Priority) -> Targets:
        """The category's targets if the policy has them, else the priority's."""
        return self.categories.get(category) or self.for_priority(priority)

    @property
    def due_fingerprint(self) -> str:
        """Names the targets (all due times depend on), so a stored due time computed
        under other targets can be found and recomputed."""
        text = self.targets.model_dump_json()
        if self.categories:
            text += self.model_dump_json(include={"categories"})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SlaClock:
    name: ClockName
    target: timedelta
    started_at: datetime
    stopped_at: datetime | None
    elapsed: timedelta
    """Active time: from start to stop (or now), less time on hold."""
    paused: bool
    due_at: datetime | None
    """When active time reaches the target. While paused it is the instant the target was
    reached if that was before the hold began, else None (it depends on the resume)."""

    @property
    def remaining(self) -> timedelta:
        return self.target - self.elapsed

    @property
    def breached(self) -> bool:
        return self.elapsed > self.target

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    @property
    def elapsed_minutes(self) -> int:
        return self.elapsed // MINUTE

    @property
    def remaining_minutes(self) -> int:
        """Rounded down: negative once breached."""
        return self.remaining // MINUTE


@dataclass(frozen=True, slots=True)
class SlaClocks:
    response: SlaClock
    feedback: SlaClock
    resolution: SlaClock

    @classmethod
    def of(cls, order: WorkOrder, policy: SlaPolicy, now: datetime) -> SlaClocks:
        targets = policy.for_order(order)
        clocks = {
            name: _clock(name, targets.for_clock(name), order, stop, now)
            for name, stop in _stops(order).items()
        }
        return cls(**clocks)

    def __iter__(self) -> Iterator[SlaClock]:
        return iter((self.response, self.feedback, self.resolution))


def order_due_at(order: WorkOrder, policy: SlaPolicy) -> datetime | None:
    """When the order's earliest running clock is due; None when the order is closed or
    cancelled, or no running clock has a due time (all stopped, or paused before due).

    An open order is overdue at ``now`` exactly when this is before ``now``: a running
    clock is breached once past its due time, and a paused one only if it was due before
    its hold began. Independent of ``now``, so it can be stored and only changes when the
    order (or the policy) does.
    """
    if not order.is_open:
        return None
    targets = policy.for_order(order)
    due = [
        _clock_due(order.created_at, targets.for_clock(name), order.holds, None)
        for name, stop in _stops(order).items()
        if stop is None
    ]
    return min((d for d in due if d is not None), default=None)


def _stops(order: WorkOrder) -> dict[ClockName, datetime | None]:
    return {
        "response": order.acknowledged_at,
        "feedback": order.first_feedback_at,
        "resolution": order.resolved_at,
    }


@dataclass(frozen=True, slots=True)
class Escalation:
    order_id: str
    clock: EscalationClock
    level: int
    notify: str
    priority: Priority
    overdue: timedelta
    """Active time past the clock's target when the check ran."""

    @property
    def overdue_minutes(self) -> int:
        return self.overdue // MINUTE


def due_escalations(order: WorkOrder, policy: SlaPolicy, now: datetime) -> list[Escalation]:
    """Escalations that are due and not yet recorded on ``order``; none once it is closed
    or cancelled. The caller sends them and records each with ``order.record_escalation``.
    """
    if not order.is_open:
        return []
    sent = {(e.clock, e.level) for e in order.escalations}
    due = []
    for clock in SlaClocks.of(order, policy, now):
        for level in policy.escalation:
            if clock.elapsed > clock.target + level.after and (clock.name, level.level) not in sent:
                due.append(
                    Escalation(
                        order_id=order.id,
                        clock=clock.name,
                        level=level.level,
                        notify=level.notify,
                        priority=order.priority,
                        overdue=clock.elapsed - clock.target,
                    )
                )
    return due


def time_on_hold(order: WorkOrder, until: datetime) -> timedelta:
    """Total time ``order`` spent on hold up to ``until`` (an open hold counts to then)."""
    held = _holds_between(order.holds, order.created_at, until)
    return sum((b - a for a, b in held), timedelta(0))


def _clock(
    name: ClockName, target: timedelta, order: WorkOrder, stop: datetime | None, now: datetime
) -> SlaClock:
    start = order.created_at
    end = stop if stop is not None else now
    paused = stop is None and bool(order.holds) and order.holds[-1].ended_at is None
    on_hold = time_on_hold(order, end)
    return SlaClock(
        name=name,
        target=target,
        started_at=start,
        stopped_at=stop,
        elapsed=max(end - start - on_hold, timedelta(0)),
        paused=paused,
        due_at=_clock_due(start, target, order.holds, stop),
    )


def _holds_between(
    holds: list[Hold], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Hold intervals clipped to [start, end]; an open hold ends at ``end``."""
    clipped = []
    for hold in holds:
        a = max(hold.started_at, start)
        b = min(hold.ended_at or end, end)
        if a < b:
            clipped.append((a, b))
    return clipped


def _clock_due(
    start: datetime, target: timedelta, holds: list[Hold], stop: datetime | None
) -> datetime | None:
    """The instant active time reaches ``target``, skipping the holds before ``stop`` (a
    running clock: all of them). None when a hold still open began before that instant."""
    t, left = start, target
    for hold in sorted(holds, key=lambda h: h.started_at):
        a = max(hold.started_at, start)
        if (stop is not None and a >= stop) or a - t >= left:
            break
        ended = hold.ended_at if stop is None else min(hold.ended_at or stop, stop)
        if ended is None:
            return None
        left -= max(a - t, timedelta(0))
        t = max(t, ended)
    return t + left
