"""The demo's month of maintenance visits (demo/history.py), in the database: every demo
car visited, never more than 15 days apart, each visit recorded by two technicians item
by item, signed by the safety manager, verified and closed; no overdue alarm on the way;
and the cars' next visits staggered, the script's car (elev-03) with its visit open."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import test_maintenance_plans_db
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.users import NewUser, create_user
from demo.history import Crew, RecordedVisit, play_visits
from demo.platform import DEMO_CREW
from maintenance.config_files import load_checklist
from maintenance.db.engine import make_sessionmaker
from maintenance.db.read.plans import plan_rows, visit_record
from maintenance.db.tables import AlarmRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.plans import OVERDUE_RULE
from maintenance.domain.site_time import to_site_time
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.visits import Visit
from maintenance.domain.workorders import Status
from maintenance.services.plans import schedule_visits

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 on 7 December in Shanghai
TODAY = date(2026, 12, 7)
ZONE = "Asia/Shanghai"  # the demo compound's
CARS = [f"elev-0{n}" for n in range(1, 7)]
POLICY = SlaPolicy()
CHECKLIST = load_checklist()

engine = test_maintenance_plans_db.engine  # the fixture: the demo compound's database


@pytest.fixture
async def crew_db(engine: AsyncEngine) -> AsyncEngine:
    """The demo compound's database (``engine``) with the crew's accounts."""
    sessions = make_sessionmaker(engine)
    crew: Crew = DEMO_CREW
    for name, role, sites in (
        (crew.technician, "technician", ["demo"]),
        (crew.manager, "manager", []),
        (crew.supervisor, "supervisor", []),
    ):
        new = NewUser(username=name, role=role, sites=sites)  # type: ignore[arg-type]
        await create_user(SqlUnitOfWork(sessions), new, actor="cli:test", at=NOW)
    return engine


async def _month(engine: AsyncEngine) -> list[RecordedVisit]:
    return await play_visits(
        make_sessionmaker(engine),
        "demo",
        NOW,
        days=30,
        crew=DEMO_CREW,
        checklist=CHECKLIST,
        policy=POLICY,
        first="elev-03",
    )


async def test_a_month_of_signed_visits_no_car_ever_15_days_without_one(
    crew_db: AsyncEngine,
) -> None:
    engine = crew_db
    played = await _month(engine)
    sessions = make_sessionmaker(engine)
    records: dict[str, list[Visit]] = defaultdict(list)
    async with sessions() as session:
        for played_visit in played:
            record = await visit_record(session, played_visit.order_id)
            assert record is not None
            records[played_visit.device_id].append(record)
        overdue = (
            await session.execute(select(AlarmRow).where(AlarmRow.rule == OVERDUE_RULE))
        ).all()
        plans = {p.device_id: p for p in await plan_rows(session, NOW, sites=["demo"])}
    assert sorted(records) == CARS
    first_day = TODAY - timedelta(days=30)
    for car, visits in records.items():
        days = [to_site_time(v.ended_at, ZONE).date() for v in visits if v.ended_at]
        assert len(days) == len(visits) >= 3, car
        # The month is covered: from its first day, no gap over 15 days, none up to today.
        assert days[0] == first_day, car
        gaps = [(b - a).days for a, b in zip(days, [*days[1:], TODAY], strict=True)]
        assert max(gaps) <= 15, (car, days)
        assert [v.level for v in visits] == ["yearly"] + ["half_monthly"] * (len(visits) - 1)
        for visit in visits:
            assert visit.signed_by == DEMO_CREW.manager, visit.order_id
            assert len(visit.technicians) == 2
            assert visit.technicians[0] == DEMO_CREW.technician
            assert {r.code for r in visit.results} == {i.name for i in visit.items}
            measured = [r for r, i in zip(visit.results, visit.items, strict=True) if i.reading]
            assert measured
            assert all(r.reading is not None for r in measured)
        assert plans[car].last_visit_on == days[-1]
        assert not plans[car].overdue
    assert overdue == []  # nobody was ever late
    async with SqlUnitOfWork(sessions) as uow:
        for played_visit in played:
            order = await uow.work_orders.get(played_visit.order_id)
            assert order is not None
            assert order.status is Status.CLOSED


async def test_after_the_month_the_cars_next_visits_are_staggered(crew_db: AsyncEngine) -> None:
    engine = crew_db
    await _month(engine)
    # As the worker does when the demo starts.
    opened = await schedule_visits(
        SqlUnitOfWork(make_sessionmaker(engine), sla=POLICY), lambda: NOW, CHECKLIST, POLICY
    )
    async with make_sessionmaker(engine)() as session:
        plans = {p.device_id: p for p in await plan_rows(session, NOW, sites=["demo"])}
    assert opened.plans_created == []
    assert opened.overdue == []
    # Not six yearly visits at once: a few half-monthly ones, the script's car among them.
    assert 1 <= len(opened.visits_opened) < len(CARS)
    assert plans["elev-03"].pending_visit is not None
    assert {p.next_level for p in plans.values()} == {"half_monthly"}
    assert len({p.next_due for p in plans.values()}) >= 4
    assert all(TODAY <= p.next_due <= TODAY + timedelta(days=15) for p in plans.values())
