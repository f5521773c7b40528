"""Maintenance plans: when each elevator's next visit is due, and at which level.

**The 15-day rule.** Chinese rules require a maintenance visit at least every 15 days. A
plan (:class:`Plan`, one per car) keeps the date of the last completed visit and the
current interval (15 days, or what the on-demand rule of :mod:`.intervals` set); the next
visit is due ``interval_days`` after the last one (:meth:`Plan.next_due`). A car is
*overdue* once a day has begun after that due date with no visit completed
(:meth:`Plan.overdue_on`); the service raises one overdue alarm for it and clears it
when a visit completes.

**Levels** (TSG T5002, cumulative: see :mod:`.checklists`). The plan year starts on the
plan's ``anchor`` date; quarters and halves are counted in whole months from it. A visit
is of the rarest level whose period it is the first visit in (:func:`level_for`): the
first visit of a plan year is the yearly one, the first of its second half the
half-yearly one, the first of each remaining quarter a quarterly one, and every other
visit half-monthly. So a year of 15-day visits has 1 yearly, 1 half-yearly, 2 quarterly
and the rest half-monthly visits: yearly items once a year, half-yearly items twice
(the yearly visit includes them), quarterly items four times. The rule holds for any
interval, also a stretched one, and for a visit done early or late: it counts what was
done, not what was planned.

:func:`schedule` lays out the visits ahead (assuming each is done on its due date), for
the plan view and the benchmark; the service opens each visit as a work order a few days
before it is due.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Final

from maintenance.domain.checklists import LEVELS, Level
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.plan_reasons import PlanReason

__all__ = [
    "OVERDUE_RULE",
    "PERIOD_MONTHS",
    "STATUTORY_INTERVAL_DAYS",
    "Plan",
    "PlannedCar",
    "PlannedVisit",
    "level_for",
    "months_between",
    "schedule",
]

OVERDUE_RULE: Final = "maintenance_overdue"
"""The alarm rule of a car past its due date with no visit completed (one per car)."""

STATUTORY_INTERVAL_DAYS: Final = 15
"""Fact (domain.md): every elevator is serviced at least once every 15 days, unless an
on-demand (按需维保) plan for a monitored car allows longer."""

PERIOD_MONTHS: Final[dict[Level, int]] = {
    "half_monthly": 0,  # every visit
    "quarterly": 3,
    "half_yearly": 6,
    "yearly": 12,
}


def months_between(start: date, on: date) -> int:
    """Whole months from ``start`` to ``on`` (a month completes on the same day of month)."""
    return (on.year - start.year) * 12 + on.month - start.month - (on.day < start.day)


def _period(anchor: date, on: date, level: Level) -> int:
    return months_between(anchor, on) // PERIOD_MONTHS[level]


def level_for(anchor: date, on: date, last_done: dict[Level, date]) -> Level:
    """The level of a visit on ``on``: the rarest level whose period (counted from
    ``anchor``) has no visit of that level or above yet. ``last_done`` holds, per level,
    the date a visit last did that level's items (a yearly visit did them all)."""
    for level in reversed(LEVELS[1:]):
        done = last_done.get(level)
        if done is None or _period(anchor, done, level) != _period(anchor, on, level):
            return level
    return "half_monthly"


@dataclass(frozen=True, slots=True)
class PlannedCar:
    """A registered elevator, as the scheduler needs it."""

    site: str
    device_id: str
    building: str | None
    timezone: str
    """The site's IANA zone: a plan's days are the site's calendar days."""

    @property
    def asset(self) -> str:
        return f"{self.site}/elevator/{self.device_id}"


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    asset: str
    due_on: date
    level: Level


@dataclass(frozen=True, slots=True)
class Plan:
    """One car's maintenance plan. Change it with :meth:`visited` and :meth:`with_interval`
    (both return a new plan)."""

    asset: str
    site: str
    anchor: date
    """First day of the plan year (the plan's start): levels count their periods from it."""
    interval_days: int = STATUTORY_INTERVAL_DAYS
    findings: tuple[PlanReason, ...] = ()
    """Why the interval is what it is (written by the on-demand rule)."""
    last_visit_on: date | None = None
    last_done: dict[Level, date] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.interval_days < 1:
            raise InvalidRequest(f"plan {self.asset}: interval {self.interval_days} days < 1")

    def next_due(self) -> date:
        """The date the next visit is due: the interval after the last one (a new plan:
        its anchor, so the first visit is on the first day and is the yearly one)."""
        if self.last_visit_on is None:
            return self.anchor
        return self.last_visit_on + timedelta(days=self.interval_days)

    def next_level(self, on: date | None = None) -> Level:
        return level_for(self.anchor, on or self.next_due(), self.last_done)

    def overdue_on(self, today: date) -> bool:
        """True from the day after the due date while no visit was completed."""
        return today > self.next_due()

    def days_since_visit(self, today: date) -> int | None:
        return None if self.last_visit_on is None else (today - self.last_visit_on).days

    def visited(self, on: date, level: Level) -> Plan:
        """The plan after a visit of ``level`` completed on ``on`` (which did the items of
        ``level`` and every level below it)."""
        if self.last_visit_on is not None and on < self.last_visit_on:
            raise InvalidRequest(
                f"plan {self.asset}: a visit on {on} is before the last one ({self.last_visit_on})"
            )
        done = dict(self.last_done)
        for covered in LEVELS[: LEVELS.index(level) + 1]:
            done[covered] = on
        return replace(self, last_visit_on=on, last_done=done)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The findings as English sentences."""
        return tuple(f.text for f in self.findings)

    def with_interval(self, days: int, findings: tuple[PlanReason, ...]) -> Plan:
        return replace(self, interval_days=days, findings=findings)


def schedule(plan: Plan, until: date) -> list[PlannedVisit]:
    """The visits due from the plan's next one up to ``until`` (inclusive), each at its
    level, assuming each is done on its due date at the current interval."""
    visits: list[PlannedVisit] = []
    anchor, step = plan.anchor, timedelta(days=plan.interval_days)
    done = dict(plan.last_done)
    due = plan.next_due()
    while due <= until:
        level = level_for(anchor, due, done)
        visits.append(PlannedVisit(plan.asset, due, level))
        for covered in LEVELS[: LEVELS.index(level) + 1]:
            done[covered] = due
        due += step
    return visits
