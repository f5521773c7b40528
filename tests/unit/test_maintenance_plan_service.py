"""Maintenance plans as a service, under a fake clock: 120 days of scheduled visits, the
overdue alarm, on-demand intervals, defects and the sign-off (in-memory unit of work)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from maintenance_fakes import FakeClock, FakeUnitOfWork

from maintenance.config_files import load_checklist
from maintenance.domain.actors import Actor
from maintenance.domain.checklists import LEVELS
from maintenance.domain.errors import NotFound, NotPermitted
from maintenance.domain.intervals import CarHealth, IntervalLimits
from maintenance.domain.plans import PlannedCar, level_for
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.visits import VISIT_CATEGORY, ItemResult, Visit
from maintenance.domain.workorders import Status, WorkOrder
from maintenance.services.plans import (
    OVERDUE_RULE,
    VisitReport,
    record_visit,
    schedule_visits,
    set_limits,
    sign_visit,
)

# 09:00 in Shanghai: the scheduler's daily run.
START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
DAY0 = date(2026, 1, 5)
DAYS = 120
CHECKLIST = load_checklist()
POLICY = SlaPolicy()
MANAGER = Actor("mgr-wang", "manager")
TECH = Actor("tech-li", "technician")
CARS = [PlannedCar("north", f"elev-0{n}", "B1", "Asia/Shanghai") for n in (1, 2, 3)]

# Which day a car's crew does an open visit: given the visit and today, do it now?
Crew = Callable[[Visit, date], bool]


def on_due_day(visit: Visit, today: date) -> bool:
    return today >= visit.due_on


def three_days_early(visit: Visit, today: date) -> bool:
    return today >= visit.due_on - timedelta(days=3)


def results_for(visit: Visit) -> list[ItemResult]:
    def reading(code: str) -> float | None:
        item = next(i for i in visit.items if i.name == code)
        if item.reading is None:
            return None
        low, high = item.reading.min, item.reading.max
        return low if low is not None else (high if high is not None else 0.0)

    return [ItemResult(i.name, "done", reading=reading(i.name)) for i in visit.items]


async def do_visit(
    uow: FakeUnitOfWork, clock: FakeClock, order: WorkOrder, health: CarHealth | None
) -> Visit:
    order.assign(MANAGER, clock(), assignee=TECH.user_id)
    order.acknowledge(TECH, clock())
    visit = uow.visits.items[order.id]
    report = VisitReport(
        technicians=["tech-li", "tech-zhao"],
        started_at=clock() - timedelta(hours=2),
        ended_at=clock() - timedelta(hours=1),
        results=results_for(visit),
    )
    return await record_visit(uow, order.id, report, TECH, clock, POLICY, health=health)


async def simulate(
    crews: dict[str, Crew],
    *,
    health: Callable[[str, int], CarHealth | None] = lambda asset, n: None,
    uow: FakeUnitOfWork | None = None,
) -> tuple[FakeUnitOfWork, dict[str, list[tuple[date, str]]]]:
    """Run the scheduler daily for DAYS days; each car's crew does its open visit on the
    day its rule says. Returns the unit of work and each car's completed (day, level)."""
    uow = uow or FakeUnitOfWork()
    uow.plans.cars_registered = CARS
    clock = FakeClock(START)
    done: dict[str, list[tuple[date, str]]] = {car.asset: [] for car in CARS}
    for day in range(DAYS + 1):
        clock.now = START + timedelta(days=day)
        today = DAY0 + timedelta(days=day)
        await schedule_visits(uow, clock, CHECKLIST, POLICY)
        for car in CARS:
            visit = await uow.visits.pending_for(car.asset)
            if visit is None:
                continue
            order = uow.work_orders.items[visit.order_id]
            if crews[car.asset](visit, today):
                await do_visit(uow, clock, order, health(car.asset, len(done[car.asset])))
                done[car.asset].append((today, visit.level))
    return uow, done


def overdue_alarms(uow: FakeUnitOfWork, car: PlannedCar) -> list[object]:
    return [
        a
        for a in uow.alarms.items.values()
        if a.rule == OVERDUE_RULE and a.device.device_id == car.device_id
    ]


async def test_120_days_every_car_visited_in_every_15_day_window_at_the_right_level() -> None:
    crews = {CARS[0].asset: on_due_day, CARS[1].asset: three_days_early, CARS[2].asset: on_due_day}
    uow, done = await simulate(crews)
    for car in CARS:
        days = [d for d, _ in done[car.asset]]
        assert days[0] == DAY0
        for start in range(DAYS - 14):
            window = {DAY0 + timedelta(days=start + k) for k in range(15)}
            assert window & set(days), f"{car.asset}: no visit from day {start} for 15 days"
        # Each level is the one its date calls for, given what the car had done before.
        history: dict[str, date] = {}
        for day, level in done[car.asset]:
            assert level == level_for(DAY0, day, history)  # type: ignore[arg-type]
            for covered in LEVELS[: LEVELS.index(level) + 1]:  # type: ignore[arg-type]
                history[covered] = day
        assert overdue_alarms(uow, car) == []
    on_time = [level for _, level in done[CARS[0].asset]]
    assert on_time[0] == "yearly"
    assert on_time.count("quarterly") == 1  # the first visit from 5 April
    assert on_time[6] == "quarterly"
    assert done[CARS[0].asset][6][0] == date(2026, 4, 5)
    assert set(on_time[1:6] + on_time[7:]) == {"half_monthly"}


async def test_a_missed_visit_raises_exactly_one_overdue_alarm_until_it_is_done() -> None:
    late_day = DAY0 + timedelta(days=60)

    def misses_one(visit: Visit, today: date) -> bool:
        if visit.due_on == late_day:
            return today >= late_day + timedelta(days=5)
        return today >= visit.due_on

    crews = {CARS[0].asset: on_due_day, CARS[1].asset: on_due_day, CARS[2].asset: misses_one}
    uow, done = await simulate(crews)
    alarms = overdue_alarms(uow, CARS[2])
    assert len(alarms) == 1
    (alarm,) = alarms
    assert alarm.count == 1  # type: ignore[attr-defined]
    assert alarm.raised_at == START + timedelta(days=61)  # type: ignore[attr-defined]
    assert alarm.cleared_at == START + timedelta(days=65)  # type: ignore[attr-defined]
    # The alarm joined the late visit's order rather than opening another.
    order = uow.work_orders.items[alarm.work_order_id]  # type: ignore[attr-defined]
    assert order.category == VISIT_CATEGORY
    assert order.status is Status.RESOLVED
    assert late_day + timedelta(days=5) in [d for d, _ in done[CARS[2].asset]]
    assert overdue_alarms(uow, CARS[0]) == []
    assert overdue_alarms(uow, CARS[1]) == []


def healthy(asset: str, visits: int) -> CarHealth:
    return CarHealth(
        online=True, inspection_valid=True, age_years=5, trips=9000, faults=0, alarms=0
    )


async def test_on_demand_intervals_stretch_and_shrink_and_never_pass_the_site_limit() -> None:
    uow = FakeUnitOfWork()
    await set_limits(
        uow, "north", IntervalLimits(min_days=15, max_days=30), MANAGER, FakeClock(START)
    )

    def scripted(asset: str, visits: int) -> CarHealth:
        # Healthy for four visits, then three alarms since the last one, then healthy.
        return healthy(asset, visits) if visits != 4 else CarHealth(True, True, 5, 9000, 0, 3)

    crews = dict.fromkeys((car.asset for car in CARS), on_due_day)
    uow, done = await simulate(crews, health=scripted, uow=uow)
    days = [d for d, _ in done[CARS[0].asset]]
    gaps = [(b - a).days for a, b in itertools.pairwise(days)]
    assert max(gaps) <= 30
    assert gaps[:5] == [20, 25, 30, 30, 15]
    # The visit on day 120 was healthy again: the plan stretches step by step.
    assert days[-1] == DAY0 + timedelta(days=DAYS)
    plan = uow.plans.items[CARS[0].asset]
    assert plan.interval_days == 20
    assert plan.reasons[-1] == "lengthened from 15 to 20 days (limit 30)"
    # A stretched interval is the car's plan: no overdue alarm within it.
    assert overdue_alarms(uow, CARS[0]) == []


async def test_lowering_the_limit_brings_plans_within_it_at_once() -> None:
    crews = dict.fromkeys((car.asset for car in CARS), on_due_day)
    uow = FakeUnitOfWork()
    await set_limits(
        uow, "north", IntervalLimits(min_days=15, max_days=30), MANAGER, FakeClock(START)
    )
    uow, _ = await simulate(crews, health=healthy, uow=uow)
    assert uow.plans.items[CARS[0].asset].interval_days == 30
    plans = await set_limits(
        uow, "north", IntervalLimits(min_days=15, max_days=20), MANAGER, FakeClock(START)
    )
    assert {p.interval_days for p in plans} == {20}
    assert "now 15 to 20 days" in plans[0].reasons[0]


async def test_a_defect_opens_a_linked_repair_order_and_the_manager_signs() -> None:
    uow = FakeUnitOfWork()
    uow.plans.cars_registered = CARS[:1]
    clock = FakeClock(START)
    await schedule_visits(uow, clock, CHECKLIST, POLICY)
    visit = await uow.visits.pending_for(CARS[0].asset)
    assert visit is not None
    order = uow.work_orders.items[visit.order_id]
    assert visit.level == "yearly"
    assert len(visit.items) == 76
    order.assign(MANAGER, clock(), assignee=TECH.user_id)
    order.acknowledge(TECH, clock())
    clock.advance(hours=3)
    results = [
        r if r.code != "HM29" else ItemResult("HM29", "defect", "landing 7: 5 mm", 5.0)
        for r in results_for(visit)
    ]
    report = VisitReport(["tech-li", "tech-zhao"], clock() - timedelta(hours=2), clock(), results)
    recorded = await record_visit(uow, order.id, report, TECH, clock, POLICY, health=None)
    repair_id = recorded.defect_orders["HM29"]
    repair = uow.work_orders.items[repair_id]
    assert repair.fault_kind == "defect/HM29"
    assert repair.category == "elevator"
    assert order.id in (repair.description or "")
    assert order.status is Status.RESOLVED
    with pytest.raises(NotPermitted):
        await sign_visit(uow, order.id, TECH, clock)
    signed = await sign_visit(uow, order.id, MANAGER, clock)
    assert signed.signed_by == "mgr-wang"
    actions = [e.action for e in uow.visits.events]
    assert actions == ["planned", "recorded", "defect_order", "signed"]
    with pytest.raises(NotFound):
        await sign_visit(uow, repair_id, MANAGER, clock)


async def test_a_worker_schedules_only_its_own_sites() -> None:
    uow = FakeUnitOfWork()
    south = PlannedCar("south", "elev-09", "S1", "Asia/Shanghai")
    uow.plans.cars_registered = [*CARS, south]
    clock = FakeClock(START)
    mine = await schedule_visits(uow, clock, CHECKLIST, POLICY, sites=("south",))
    assert mine.plans_created == [south.asset]
    assert len(mine.visits_opened) == 1
    everyone = await schedule_visits(uow, clock, CHECKLIST, POLICY)
    assert everyone.plans_created == [car.asset for car in CARS]
