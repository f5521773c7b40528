"""Maintenance plans: scheduling visits, the overdue alarm, recording and signing visits.

- :func:`schedule_visits` (the worker runs it with the SLA check; ``estatewatch
  maintenance plans schedule`` once): every registered elevator gets a plan (anchored on
  the day it is first seen, at the statutory 15 days or its site's limit). A car with no
  open visit gets one as a work order of category ``maintenance_visit`` as soon as its
  due date is within the visit's resolve target (the SLA policy's
  ``categories.maintenance_visit``, 5 days by default), with the record's checklist copied
  from the catalogue at the level :mod:`maintenance.domain.plans` picks. A car past its
  due date with no visit completed raises one ``maintenance_overdue`` alarm (P3, on the
  visit's work order), and only one: the scheduler raises it only when none is active.
  A run commits every :data:`SCHEDULE_BATCH` cars, so one stopped partway keeps what it
  laid out and the next run does the rest.
- :func:`record_visit`: the technicians' record (:meth:`Visit.record`); each defect opens a
  repair order (or joins the one open for that item) linked to the visit; the visit's
  order is resolved; the plan counts the visit and sets its next interval (on demand
  from the car's health when the site allows it, :mod:`maintenance.domain.intervals`);
  the overdue alarm clears.
- :func:`sign_visit`: the safety manager's sign-off.
- :func:`set_limits`: a site's on-demand limits; no plan stays above the new maximum.

Days are the site's calendar days (its time zone).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Final

from estatewatch.clock import Clock
from maintenance.domain.actors import Actor
from maintenance.domain.checklists import Checklist, ChecklistItem
from maintenance.domain.errors import NotFound
from maintenance.domain.events import DomainEvent, JsonValue
from maintenance.domain.intervals import (
    CarHealth,
    IntervalDecision,
    IntervalLimits,
    on_demand_interval,
    statutory_interval,
)
from maintenance.domain.plan_reasons import Figure, PlanReason
from maintenance.domain.plans import OVERDUE_RULE, Plan, PlannedCar
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.signals import DeviceRef, Priority, Signal
from maintenance.domain.site_time import to_site_time
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.visits import VISIT_CATEGORY, ItemResult, Visit
from maintenance.domain.workorders import WorkOrder, format_order_id
from maintenance.services.work_orders import handle_signal

__all__ = [
    "OVERDUE_RULE",
    "VISIT_PRIORITY",
    "ScheduleRun",
    "VisitReport",
    "defect_order_title",
    "record_visit",
    "schedule_visits",
    "set_limits",
    "sign_visit",
]

VISIT_PRIORITY: Final[Priority] = "P3"
DEFECT_PRIORITY: Final[Priority] = "P3"
_DAY: Final = timedelta(days=1)
SCHEDULE_BATCH: Final = 50
"""Cars a transaction of :func:`schedule_visits`. A unit of work re-checks everything it
holds before each query, so its cost grows with the square of what it holds (a city's
first run laying out 1,000 new plans in one transaction took 103 s of CPU), and on
PostgreSQL a transaction holds the audit trail's lock from its start, so the telemetry's
alarms and orders wait for it to end: small transactions keep the cost per car flat and
let them in between."""


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    plans_created: list[str] = field(default_factory=list)
    visits_opened: list[str] = field(default_factory=list)
    """The work orders of the visits opened."""
    overdue: list[str] = field(default_factory=list)
    """The cars that raised an overdue alarm."""


@dataclass(frozen=True, slots=True)
class VisitReport:
    """What the technicians hand in (the API's and the CLI's body, checked by the domain)."""

    technicians: list[str]
    started_at: datetime
    ended_at: datetime
    results: list[ItemResult]


def _plan_event(
    plan: Plan, action: str, now: datetime, actor: Actor | None = None, **detail: JsonValue
) -> DomainEvent:
    base: dict[str, JsonValue] = {
        "interval_days": plan.interval_days,
        "reasons": list(plan.reasons),
    }
    return DomainEvent("plan", plan.asset, action, now, actor, detail=base | detail)


def _today(now: datetime, car: PlannedCar) -> date:
    return to_site_time(now, car.timezone).date()


def _device(car: PlannedCar) -> DeviceRef:
    return DeviceRef(car.site, "elevator", car.device_id)


async def schedule_visits(
    uow: UnitOfWork,
    clock: Clock,
    checklist: Checklist,
    policy: SlaPolicy,
    *,
    sites: Collection[str] | None = None,
    batch: int = SCHEDULE_BATCH,
) -> ScheduleRun:
    """One run of the scheduler over the cars of ``sites`` (None: every site; a worker
    passes its own, so two workers never open the same car's visit), ``batch`` cars a
    transaction (see :data:`SCHEDULE_BATCH`)."""
    now = clock()
    lead = policy.targets_of(VISIT_CATEGORY, VISIT_PRIORITY).resolve_within // _DAY
    run = ScheduleRun()
    overdue: list[Signal] = []
    async with uow:
        cars = [car for car in await uow.plans.cars() if sites is None or car.site in sites]
    limits: dict[str, IntervalLimits] = {}
    for start in range(0, len(cars), batch):
        async with uow:
            for car in cars[start : start + batch]:
                today = _today(now, car)
                plan = await uow.plans.get(car.asset)
                if plan is None:
                    if car.site not in limits:
                        limits[car.site] = await uow.plans.limits(car.site)
                    plan = Plan(
                        car.asset,
                        car.site,
                        today,
                        statutory_interval(limits[car.site]),
                        (PlanReason("new_plan"),),
                    )
                    await uow.plans.put(plan, [_plan_event(plan, "created", now)])
                    run.plans_created.append(car.asset)
                pending = await uow.visits.pending_for(car.asset)
                if pending is None and today >= plan.next_due() - timedelta(days=lead):
                    pending = await _open_visit(uow, car, plan, checklist, now)
                    run.visits_opened.append(pending.order_id)
                # Only a late car needs its alarm looked up (a query and a flush each).
                if (
                    plan.overdue_on(today)
                    and await uow.alarms.active_for(_device(car), OVERDUE_RULE) is None
                ):
                    overdue.append(_overdue_signal(car, plan, today, now, pending))
            await uow.commit()
    for signal in overdue:
        await handle_signal(uow, signal, clock)
        run.overdue.append(str(signal.device))
    return run


async def _open_visit(
    uow: UnitOfWork, car: PlannedCar, plan: Plan, checklist: Checklist, now: datetime
) -> Visit:
    due = plan.next_due()
    level = plan.next_level()
    label = level.replace("_", "-")
    order = WorkOrder.open(
        id=format_order_id(now.year, await uow.work_orders.next_number(now.year)),
        title=f"{car.device_id}: {label} maintenance visit, due {due.isoformat()}",
        asset=car.asset,
        site=car.site,
        location=car.building,
        category=VISIT_CATEGORY,
        fault_kind=visit_fault_kind(due),
        priority=VISIT_PRIORITY,
        source="staff",
        now=now,
        description=f"TSG T5002 {label} items ({len(checklist.items_for(level))}), "
        "at least two technicians, signed by the elevator safety manager",
    )
    await uow.work_orders.add(order)
    visit = Visit.plan(
        order_id=order.id,
        asset=car.asset,
        site=car.site,
        level=level,
        due_on=due,
        items=checklist.items_for(level),
        now=now,
    )
    await uow.visits.put(visit)
    return visit


def visit_fault_kind(due: date) -> str:
    """Each visit is its own order (``maintenance_visit/2026-12-20``): a recorded visit
    waiting for its sign-off and close does not hold up the next one."""
    return f"{VISIT_CATEGORY}/{due.isoformat()}"


def defect_order_title(device: str, item: ChecklistItem) -> str:
    """The title of the repair order a visit's defect opens, stored in English;
    api/web/alarm_messages.py says it in the reader's language."""
    return f"{device}: defect at {item.name} {item.title}"


def _overdue_signal(
    car: PlannedCar, plan: Plan, today: date, now: datetime, pending: Visit | None
) -> Signal:
    since = plan.days_since_visit(today)
    last = f"{since} days since the last visit" if since is not None else "no visit yet"
    return Signal(
        kind="raised",
        rule=OVERDUE_RULE,
        device=_device(car),
        at=now,
        severity="major",
        priority=VISIT_PRIORITY,
        # Joins the late visit's order (the car's sole pending visit), if there is one.
        fault_kind=visit_fault_kind(pending.due_on if pending else plan.next_due()),
        message=f"maintenance visit overdue ({last}; due {plan.next_due().isoformat()})",
        building=car.building,
    )


async def _visit_and_order(
    uow: UnitOfWork, order_id: str, visible: Callable[[WorkOrder], bool]
) -> tuple[Visit, WorkOrder]:
    order = await uow.work_orders.get(order_id)
    visit = await uow.visits.get(order_id)
    if order is None or visit is None or not visible(order):
        raise NotFound(f"no maintenance visit {order_id}")
    return visit, order


async def record_visit(
    uow: UnitOfWork,
    order_id: str,
    report: VisitReport,
    actor: Actor,
    clock: Clock,
    policy: SlaPolicy,
    *,
    health: CarHealth | None,
    visible: Callable[[WorkOrder], bool] = lambda order: True,
) -> Visit:
    """Record the visit as ``actor``; ``health`` is the car's since its last visit (None:
    no monitoring figures, so the statutory interval)."""
    async with uow:
        visit, order = await _visit_and_order(uow, order_id, visible)
        now = clock()
        visit.record(
            actor,
            now,
            technicians=report.technicians,
            started_at=report.started_at,
            ended_at=report.ended_at,
            results=report.results,
        )
        for defect in visit.defects:
            repair = await _repair_order(uow, visit, order, defect, actor, now)
            visit.link_defect(defect.code, repair, now)
        summary = f"{visit.level} visit recorded by {', '.join(visit.technicians)}"
        order.resolve(actor, now, approval_threshold=policy.approval_threshold, note=summary)
        car, plan = await _car_and_plan(uow, visit.asset)
        limits = await uow.plans.limits(plan.site)
        plan = plan.visited(to_site_time(visit.ended_at or now, car.timezone).date(), visit.level)
        decision = _interval(plan, health, limits)
        plan = plan.with_interval(decision.days, decision.findings)
        event = _plan_event(plan, "visited", now, actor, visit=order.id, level=visit.level)
        await uow.plans.put(plan, [event])
        await uow.visits.put(visit)
        await uow.commit()
    cleared = replace(_overdue_signal(car, plan, plan.next_due(), now, visit), kind="cleared")
    await handle_signal(uow, cleared, clock)
    return visit


def _interval(plan: Plan, health: CarHealth | None, limits: IntervalLimits) -> IntervalDecision:
    if health is None:
        fixed = statutory_interval(limits)
        return IntervalDecision(fixed, (PlanReason("no_figures"),))
    return on_demand_interval(plan.interval_days, health, limits)


async def _car_and_plan(uow: UnitOfWork, asset: str) -> tuple[PlannedCar, Plan]:
    car = await uow.plans.car(asset)
    plan = await uow.plans.get(asset)
    if car is None or plan is None:
        raise NotFound(f"no maintenance plan for {asset}")
    return car, plan


async def _repair_order(
    uow: UnitOfWork,
    visit: Visit,
    order: WorkOrder,
    defect: ItemResult,
    actor: Actor,
    now: datetime,
) -> str:
    kind = f"defect/{defect.code}"
    existing = await uow.work_orders.open_for(visit.asset, kind)
    if existing is not None:
        existing.comment(actor, now, text=f"found again at visit {order.id}: {defect.note}")
        return existing.id
    item = next(i for i in visit.items if i.name == defect.code)
    repair = WorkOrder.open(
        id=format_order_id(now.year, await uow.work_orders.next_number(now.year)),
        title=defect_order_title(order.asset.rsplit("/", 1)[1], item),
        asset=visit.asset,
        site=visit.site,
        location=order.location,
        category="elevator",
        fault_kind=kind,
        priority=DEFECT_PRIORITY,
        source="staff",
        now=now,
        created_by=actor,
        description=f"Found at maintenance visit {order.id}: {defect.note}",
    )
    await uow.work_orders.add(repair)
    return repair.id


async def sign_visit(
    uow: UnitOfWork,
    order_id: str,
    actor: Actor,
    clock: Clock,
    *,
    visible: Callable[[WorkOrder], bool] = lambda order: True,
) -> Visit:
    async with uow:
        visit, _ = await _visit_and_order(uow, order_id, visible)
        visit.sign_off(actor, clock())
        await uow.visits.put(visit)
        await uow.commit()
    return visit


async def set_limits(
    uow: UnitOfWork, site: str, limits: IntervalLimits, actor: Actor, clock: Clock
) -> list[Plan]:
    """Set the site's limits; a plan above the new maximum comes down to it at once (a
    longer interval is earned at the car's next visit). Returns the site's plans."""
    now = clock()
    async with uow:
        detail = {"min_days": limits.min_days, "max_days": limits.max_days}
        await uow.plans.set_limits(
            site, limits, [DomainEvent("plan", site, "limits", now, actor, detail=detail)]
        )
        plans = []
        for plan in await uow.plans.for_site(site):
            days = min(plan.interval_days, limits.max_days)
            if days != plan.interval_days:
                span: dict[str, Figure] = {"min_days": limits.min_days, "max_days": limits.max_days}
                plan = plan.with_interval(days, (PlanReason("limits_changed", span),))
                await uow.plans.put(plan, [_plan_event(plan, "interval", now, actor)])
            plans.append(plan)
        await uow.commit()
    return plans
