"""Records the browser tests put into a running server's database, at times relative to
now (the server runs on the real clock): a resident with a distinctive name whose request
was fixed, rated and paid for; an order waiting for the committee; a proposal; an
elevator's 90 days of alarms and an order in progress on it.

The server and the test share the SQLite file; each helper runs in a thread of its own
with its own event loop (Playwright's sync API holds one in the test's thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.settings import ApiSettings
from api.users import NewUser, create_user, set_password
from estatewatch.clock import utc_now
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.read.assets import find_asset
from maintenance.db.read.evidence import elevator_evidence
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.alarms import Alarm
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.domain.workorders import WorkOrder
from maintenance.services.committee import create_proposal

T = TypeVar("T")

RESIDENT: Final = NewUser(
    username="ximen-chuixue",
    role="resident",
    display_name="西门吹雪",
    sites=["demo"],
    building="B2",
    unit="8-808",
)
PERSONAL: Final = ("ximen", "西门吹雪", "8-808", "13912345678", "家门口漏水", "Ximen")
"""Everything personal about the seeded request: none of it may reach the public board."""
MANAGER: Final = Actor("qian", "manager")
TECH: Final = Actor("sun", "technician")


@dataclass(frozen=True, slots=True)
class Seeded:
    created_at: datetime
    cost: Decimal


def run(data_dir: Path, seed: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """``seed(sessions)`` on the server's database, in a thread with its own loop."""

    async def main() -> T:
        url = ApiSettings(data_dir=data_dir).database_url
        async with open_engine(url) as engine:
            return await seed(make_sessionmaker(engine))

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def _elevator_order(
    order_id: str,
    title: str,
    car: str,
    created: datetime,
    by: Actor,
    *,
    location: str | None = None,
    requested_by: str | None = None,
    description: str | None = None,
) -> WorkOrder:
    """A P3 order on a demo car, a resident's request when ``by`` is one."""
    return WorkOrder.open(
        id=order_id,
        title=title,
        asset=f"demo/elevator/{car}",
        site="demo",
        category="elevator",
        fault_kind="door",
        priority="P3",
        source="resident" if by.role == "resident" else "staff",
        now=created,
        created_by=by,
        location=location,
        requested_by=requested_by,
        description=description,
    )


async def fixed_request(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    """The resident's leak on elev-05, reported 50 minutes ago, done and rated since."""
    now = utc_now()
    await create_user(SqlUnitOfWork(sessions), RESIDENT, actor="cli:test", at=now)
    resident = Actor(RESIDENT.username, "resident")
    created = now - timedelta(minutes=50)
    wo = _elevator_order(
        "WO-2026-900001",
        "西门吹雪家门口漏水",
        "elev-05",
        created,
        resident,
        location="8-808",
        requested_by=resident.user_id,
        description="西门吹雪家门口漏水 电话 13912345678",
    )
    step = timedelta(minutes=5)
    wo.assign(MANAGER, created + step, assignee=TECH.user_id)
    wo.acknowledge(TECH, created + 2 * step)
    wo.start(TECH, created + 3 * step, approval_threshold=Decimal(5000))
    wo.set_cost(TECH, created + 4 * step, actual=Decimal("380.50"))
    wo.resolve(TECH, created + 5 * step, approval_threshold=Decimal(5000))
    wo.verify(resident, created + 6 * step)
    wo.close(MANAGER, created + 7 * step)
    wo.rate(resident, created + 8 * step, stars=5, comment="谢谢 Ximen")
    async with SqlUnitOfWork(sessions) as uow:
        await uow.work_orders.add(wo)
        await uow.commit()
    return Seeded(created, Decimal("380.50"))


async def committee_work(sessions: async_sessionmaker[AsyncSession]) -> str:
    """An order waiting for approval of ¥12,000 and an open proposal on elev-06 (its id)."""
    now = utc_now()
    created = now - timedelta(hours=2)
    wo = _elevator_order("WO-2026-900002", "更换 elev-02 曳引轮", "elev-02", created, MANAGER)
    wo.assign(MANAGER, created + timedelta(minutes=1), assignee=TECH.user_id)
    wo.acknowledge(TECH, created + timedelta(minutes=2))
    wo.set_cost(TECH, created + timedelta(minutes=3), estimate=Decimal(12000))
    wo.request_approval(TECH, created + timedelta(minutes=4), reason="曳引轮磨损")
    async with SqlUnitOfWork(sessions) as uow:
        await uow.work_orders.add(wo)
        await uow.commit()
        elev06 = await find_asset(uow.session, "elev-06", site="demo")
        evidence = await elevator_evidence(uow.session, elev06, now)
    proposal = await create_proposal(
        SqlUnitOfWork(sessions),
        MANAGER,
        lambda: now - timedelta(hours=1),
        title="6 号梯 elev-06 更新改造",
        amount=Decimal("480000"),
        asset_id=elev06.row_id,
        evidence=evidence,
    )
    return proposal.id


LIFT: Final = "elev-05"
OTHER_TECH: Final = NewUser(
    username="ouyang-ke", role="technician", display_name="欧阳克", sites=["other"]
)
OTHER_TECH_PASSWORD: Final = "Estate-2026-other-site"


async def lift_history(sessions: async_sessionmaker[AsyncSession]) -> str:
    """elev-05's last 90 days in the database: 14 door faults (one every ~6 days, each
    cleared within the hour), an e-bike alarm, and a door order in progress (its id);
    and a technician of another compound (:data:`OTHER_TECH`)."""
    now = utc_now()
    device = DeviceRef("demo", "elevator", LIFT)
    alarms = []
    for n in range(15):
        raised = now - timedelta(days=88 - 6 * n, hours=n % 5)
        ebike = n == 7
        signal = Signal(
            kind="raised",
            # The shipped rules' sentences, as the worker stores them: the pages say them in
            # the reader's language.
            rule="ebike_in_elevator" if ebike else "door_failures_rising",
            device=device,
            at=raised,
            severity="minor" if ebike else "major",
            priority=None if ebike else "P2",
            fault_kind="ebike" if ebike else "door",
            message="e-bike in the car at floor 1"
            if ebike
            else f"door failures rising: 2 new failures within a week (total {30 + 2 * n})",
        )
        alarm = Alarm.raise_from(f"ALM-9{n:05d}", signal)
        alarm.clear(raised + timedelta(minutes=40))
        alarms.append(alarm)
    created = now - timedelta(hours=3)
    wo = _elevator_order("WO-2026-900003", "5 号梯门机异响", LIFT, created, MANAGER)
    wo.assign(MANAGER, created + timedelta(minutes=2), assignee=TECH.user_id)
    wo.acknowledge(TECH, created + timedelta(minutes=6))
    wo.start(TECH, created + timedelta(minutes=40), approval_threshold=Decimal(5000))
    async with SqlUnitOfWork(sessions) as uow:
        for alarm in alarms:
            await uow.alarms.add(alarm)
        await uow.work_orders.add(wo)
        await uow.commit()
    await create_user(SqlUnitOfWork(sessions), OTHER_TECH, actor="cli:test", at=now)
    await set_password(
        SqlUnitOfWork(sessions),
        OTHER_TECH.username,
        OTHER_TECH_PASSWORD,
        actor="cli:test",
        at=now,
    )
    return wo.id
