"""Maintenance plans and visits in the database: the scheduler, a recorded visit with a
defect, the sign-off and the audit trail, on SQLite (the SQL adapter of the same
service the unit tests run on the in-memory one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from maintenance.config_files import load_checklist
from maintenance.db.audit import verify
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.read.assets import find_asset
from maintenance.db.read.plans import car_health
from maintenance.db.tables import AuditRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.intervals import CarHealth, IntervalLimits
from maintenance.domain.signals import DeviceRef
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.visits import ItemResult
from maintenance.domain.workorders import Status
from maintenance.services.plans import (
    OVERDUE_RULE,
    VisitReport,
    record_visit,
    schedule_visits,
    set_limits,
    sign_visit,
)
from maintenance.sites import load_site_file

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
POLICY = SlaPolicy()
CHECKLIST = load_checklist()
MANAGER = Actor("mgr-wang", "manager")
TECH = Actor("tech-li", "technician")
ELEV = "demo/elevator/elev-01"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    await upgrade(engine)
    uow = SqlUnitOfWork(make_sessionmaker(engine))
    async with uow:
        await uow.sites.import_file(load_site_file(DEMO), actor="cli:test", at=T0, source="demo")
        await uow.commit()
    yield engine
    await engine.dispose()


async def test_plans_visits_and_the_overdue_alarm_in_the_database(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    uow = SqlUnitOfWork(sessions, sla=POLICY)
    now = T0

    def clock() -> datetime:
        return now

    await set_limits(uow, "demo", IntervalLimits(min_days=15, max_days=30), MANAGER, clock)
    first = await schedule_visits(uow, clock, CHECKLIST, POLICY)
    assert len(first.plans_created) == 6
    assert len(first.visits_opened) == 6
    again = await schedule_visits(uow, clock, CHECKLIST, POLICY)
    assert again.plans_created == []
    assert again.visits_opened == []

    async with uow:
        visit = await uow.visits.pending_for(ELEV)
        assert visit is not None
        assert visit.level == "yearly"
        assert len(visit.items) == 76
        order = await uow.work_orders.get(visit.order_id)
        assert order is not None
        assert order.category == "maintenance_visit"
        order.assign(MANAGER, now, assignee=TECH.user_id)
        order.acknowledge(TECH, now)
        await uow.commit()

    # Nobody came: the day after the due date, one overdue alarm on the visit's order.
    now = T0 + timedelta(days=1)
    late = await schedule_visits(uow, clock, CHECKLIST, POLICY)
    assert sorted(late.overdue) == sorted(f"demo/elevator/elev-0{n}" for n in range(1, 7))
    now = T0 + timedelta(days=2)
    assert (await schedule_visits(uow, clock, CHECKLIST, POLICY)).overdue == []

    def result(code: str) -> ItemResult:
        item = next(i for i in visit.items if i.name == code)
        if code == "HM29":
            return ItemResult(code, "defect", "landing 7: 5 mm", 5.0)
        reading = None if item.reading is None else (item.reading.min or item.reading.max)
        return ItemResult(code, "done", reading=reading)

    report = VisitReport(
        ["tech-li", "tech-zhao"],
        now - timedelta(hours=3),
        now - timedelta(hours=1),
        [result(i.name) for i in visit.items],
    )
    health = CarHealth(True, True, 4, 9000, 0, 0)
    await record_visit(uow, visit.order_id, report, TECH, clock, POLICY, health=health)
    await sign_visit(uow, visit.order_id, MANAGER, clock)

    async with uow:
        stored = await uow.visits.get(visit.order_id)
        assert stored is not None
        assert stored.signed_by == "mgr-wang"
        assert stored.technicians == ("tech-li", "tech-zhao")
        assert [r.status for r in stored.results].count("defect") == 1
        repair = await uow.work_orders.get(stored.defect_orders["HM29"])
        assert repair is not None
        assert repair.status is Status.NEW
        plan = await uow.plans.get(ELEV)
        assert plan is not None
        assert plan.last_visit_on == date(2026, 12, 3)
        assert plan.interval_days == 20
        assert "healthy" in plan.reasons[0]
        assert plan.last_done["half_monthly"] == date(2026, 12, 3)
        visit_order = await uow.work_orders.get(visit.order_id)
        assert visit_order is not None
        assert visit_order.status is Status.RESOLVED
        alarm = await uow.alarms.active_for(DeviceRef("demo", "elevator", "elev-01"), OVERDUE_RULE)
        assert alarm is None  # cleared by the visit
        # The next visit is not held up by this one waiting to be closed.
        assert await uow.visits.pending_for(ELEV) is None

    async with sessions() as session:
        assert (await verify(session)).intact
        actions = set(await session.scalars(select(AuditRow.action)))
    assert {"visit.planned", "visit.recorded", "visit.defect_order", "visit.signed"} <= actions
    assert {"plan.created", "plan.visited", "plan.limits"} <= actions


class CountersReader:
    """An InfluxDB reader's ``series`` for the controller's counters: ``trips`` over the
    period, one row a day (the KPI read model asks for daily minimum and maximum); any
    other field asked for (the door times) has no reading."""

    def __init__(self, trips: int) -> None:
        self.trips = trips

    async def series(
        self,
        measurement: str,
        device_id: str,
        fields: Any,
        start: datetime,
        end: datetime,
        **_: Any,
    ) -> pd.DataFrame:
        counters = {
            "run_count": [1000, 1000 + self.trips],
            "running_hours": [10.0, 10.0 + self.trips / 100],
        }
        columns = {name: counters.get(name, [None, None]) for name in fields}
        return pd.DataFrame({"time": [start, end - timedelta(hours=1)], **columns})


async def test_a_fleets_first_run_commits_a_few_cars_at_a_time(engine: AsyncEngine) -> None:
    """A city registering thousands of cars: the scheduler lays them out ``batch`` cars a
    transaction (one transaction for all held the audit trail's lock, and so every alarm
    and order of the telemetry, for minutes), and the result is what one transaction
    gave: one plan and one open visit per car, an intact audit chain, nothing again on the
    next run."""
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda connection: commits.append(1))
    uow = SqlUnitOfWork(make_sessionmaker(engine), sla=POLICY)
    first = await schedule_visits(uow, lambda: T0, CHECKLIST, POLICY, batch=4)
    assert len(commits) == 2  # six cars: four, then two
    assert sorted(first.plans_created) == [f"demo/elevator/elev-0{n}" for n in range(1, 7)]
    assert len(set(first.visits_opened)) == 6
    again = await schedule_visits(uow, lambda: T0, CHECKLIST, POLICY, batch=4)
    assert (again.plans_created, again.visits_opened) == ([], [])
    async with uow:
        for car in first.plans_created:
            assert await uow.plans.get(car) is not None
            visit = await uow.visits.pending_for(car)
            assert visit is not None
            assert visit.order_id in first.visits_opened
    async with make_sessionmaker(engine)() as session:
        assert (await verify(session)).intact


async def test_a_cars_health_since_its_last_visit(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    since, now = T0 - timedelta(days=15), T0
    async with sessions() as session:
        asset = await find_asset(session, "elev-01", "demo")
        unmonitored = await car_health(session, asset, since, now)
        monitored = await car_health(session, asset, since, now, reader=CountersReader(9000))  # type: ignore[arg-type]
    assert unmonitored.online is False  # no telemetry reader: not known to be monitored
    assert monitored.online is True
    assert monitored.trips == 9000
    assert monitored.door_drift_pct is None  # no door times: no baseline
    assert (monitored.faults, monitored.alarms) == (0, 0)
    assert monitored.age_years >= 0
    # The demo car's certificate (from the site file) is current on 1 December 2026.
    assert monitored.inspection_valid is True
