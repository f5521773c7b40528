"""A seeded compound for the public notice board's tests (read model and page).

Site ``demo`` (Asia/Shanghai), as of 2026-12-10 04:00 UTC; default SLA policy (P1 10/60
min, P2 30/120, P3 120/480). Times UTC:

    order  asset      prio created       ack  feedback  closed        cost rating
    WO-1   elev-01    P1   11-30 17:00   +5   +20       12-01 (local) 500  -
    WO-2   elev-04    P2   11-10 12:00   +50  +60       11-10         800  5
    WO-3   smoke-004  P3   11-20 09:00   -    -         -             -    -
    WO-X   other/elev-01 P1 11-12 08:00  +30  +90       11-12         9999 1  (another site)

WO-1 is created at 01:00 on 1 December in Shanghai (still November in UTC), so it counts
in December. ALM-1 (elev-01 door, opened WO-1) and WO-2 (a resident's door request) are
faults. Proposals: one on elev-06 decided by the owners in November (shown), one on the
other site's car (not shown), one still open (not shown).

Every person, unit, phone number and free text seeded is distinctive (:data:`PERSONAL`),
and none of them may appear anywhere on the board.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maintenance.db.read.assets import find_asset
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.alarms import Alarm
from maintenance.domain.signals import DeviceRef, Priority, Signal
from maintenance.domain.votes import Electorate, Tally
from maintenance.domain.workorders import Source, WorkOrder
from maintenance.services.committee import create_proposal, open_vote, record_tally
from maintenance.sites import load_site_file, validate_site

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
NOW = datetime(2026, 12, 10, 4, tzinfo=UTC)
NO_LIMIT = Decimal(10**9)
MANAGER = Actor("mgr-ouyang-feng", "manager")
TECH = Actor("tech-linghu-chong", "technician")
CHAIR = Actor("chair-huang-yaoshi", "committee")
RESIDENT = Actor("res-zhang-sanfeng", "resident")
NEIGHBOUR = Actor("res-guo-jing", "resident")
PERSONAL = (
    "ouyang",
    "linghu",
    "huang-yaoshi",
    "zhang-sanfeng",
    "guo-jing",
    "Room 1203",
    "13800138000",
    "smells of burning",
    "trapped Mrs Li",
    "Secret justification",
)
OTHER_SITE = {
    "site": "other",
    "name": "Other Compound",
    "buildings": [
        {
            "name": "T1",
            "elevators": [
                {
                    "name": "elev-01",
                    "make": "Otis",
                    "model": "GeN2",
                    "install_date": "2010-01-01",
                    "rated_load_kg": 1000,
                    "rated_speed_mps": 1.5,
                    "floors_served": 10,
                }
            ],
        }
    ],
}


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def order(
    order_id: str,
    asset: str,
    created: datetime,
    priority: Priority,
    source: Source,
    *,
    category: str = "elevator",
    fault_kind: str = "door",
    requester: Actor | None = None,
    alarm_ids: tuple[str, ...] = (),
) -> WorkOrder:
    return WorkOrder.open(
        id=order_id,
        title=f"{fault_kind} at Room 1203, call 13800138000",
        asset=asset,
        site=asset.split("/")[0],
        location="Room 1203",
        category=category,
        fault_kind=fault_kind,
        priority=priority,
        source=source,
        now=created,
        created_by=requester or MANAGER,
        requested_by=None if requester is None else requester.user_id,
        description="The car smells of burning, trapped Mrs Li for ten minutes",
        alarm_ids=alarm_ids,
    )


def done(wo: WorkOrder, *, ack: int, feedback: int, closed: datetime, cost: str) -> None:
    created = wo.created_at
    wo.assign(MANAGER, created + timedelta(minutes=1), assignee=TECH.user_id)
    wo.acknowledge(TECH, created + timedelta(minutes=ack))
    wo.start(TECH, created + timedelta(minutes=feedback), approval_threshold=NO_LIMIT)
    wo.resolve(TECH, closed - timedelta(minutes=30), approval_threshold=NO_LIMIT)
    wo.set_cost(TECH, closed - timedelta(minutes=20), actual=Decimal(cost))
    wo.verify(wo_verifier(wo), closed - timedelta(minutes=10))
    wo.close(MANAGER, closed)


def wo_verifier(wo: WorkOrder) -> Actor:
    return Actor("sup-guo-jing", "supervisor") if wo.requested_by is None else RESIDENT


def door_alarm(alarm_id: str, device: DeviceRef, raised: datetime) -> Alarm:
    signal = Signal(
        kind="raised",
        rule="rule_door",
        device=device,
        at=raised,
        severity="critical",
        priority="P1",
        fault_kind="door",
        message="door fault",
    )
    return Alarm.raise_from(alarm_id, signal)


async def _seed_orders(sessions: async_sessionmaker[AsyncSession]) -> None:
    wo1 = order(
        "WO-1", "demo/elevator/elev-01", at(11, 30, 17), "P1", "alarm", alarm_ids=("ALM-1",)
    )
    done(wo1, ack=5, feedback=20, closed=at(11, 30, 20), cost="500")
    wo2 = order(
        "WO-2", "demo/elevator/elev-04", at(11, 10, 12), "P2", "resident", requester=RESIDENT
    )
    done(wo2, ack=50, feedback=60, closed=at(11, 10, 17), cost="800")
    wo2.rate(RESIDENT, at(11, 11, 9), stars=5, comment="Room 1203 happy, 13800138000")
    wo3 = order(
        "WO-3",
        "demo/smoke_alarm/smoke-004",
        at(11, 20, 9),
        "P3",
        "resident",
        category="fire_safety",
        fault_kind="tamper",
        requester=NEIGHBOUR,
    )
    wox = order(
        "WO-X", "other/elevator/elev-01", at(11, 12, 8), "P1", "resident", requester=RESIDENT
    )
    done(wox, ack=30, feedback=90, closed=at(11, 12, 12), cost="9999")
    wox.rate(RESIDENT, at(11, 12, 13), stars=1)
    alarm = door_alarm("ALM-1", DeviceRef("demo", "elevator", "elev-01"), at(11, 30, 17))
    alarm.link_work_order("WO-1")
    async with SqlUnitOfWork(sessions) as uow:
        for wo in (wo1, wo2, wo3, wox):
            await uow.work_orders.add(wo)
        await uow.alarms.add(alarm)
        await uow.commit()


async def _seed_proposals(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with SqlUnitOfWork(sessions) as uow:
        elev06 = await find_asset(uow.session, "elev-06", site="demo")
        other = await find_asset(uow.session, "elev-01", site="other")

    async def propose(title: str, asset_id: int, when: datetime) -> str:
        proposal = await create_proposal(
            SqlUnitOfWork(sessions),
            MANAGER,
            lambda: when,
            title=title,
            amount=Decimal("48000.50"),
            asset_id=asset_id,
            justification="Secret justification naming huang-yaoshi",
        )
        return proposal.id

    electorate = Electorate(owners_total=300, area_total_m2=Decimal(30000))
    counted = Tally(
        for_owners=150,
        for_area_m2=Decimal(14000),
        against_owners=40,
        against_area_m2=Decimal(4500),
        abstain_owners=10,
        abstain_area_m2=Decimal(1500),
    )
    for title, asset_id in (("Renew elev-06", elev06.row_id), ("Renew other car", other.row_id)):
        proposal_id = await propose(title, asset_id, at(11, 2, 2))
        await open_vote(
            SqlUnitOfWork(sessions), CHAIR, lambda: at(11, 3, 2), proposal_id, electorate
        )
        await record_tally(
            SqlUnitOfWork(sessions), CHAIR, lambda: at(11, 20, 2), proposal_id, counted
        )
    await propose("Still open", elev06.row_id, at(12, 2, 2))


async def seed_board(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Import the demo and the other site, then seed the orders, alarm and proposals."""
    async with SqlUnitOfWork(sessions) as uow:
        for site in (load_site_file(DEMO), validate_site(OTHER_SITE, "other.yaml")):
            await uow.sites.import_file(site, actor="cli:test", at=at(10, 1, 0), source="t")
        await uow.commit()
    await _seed_orders(sessions)
    await _seed_proposals(sessions)


async def seed_approvals(sessions: async_sessionmaker[AsyncSession], *order_ids: str) -> None:
    """Orders on elev-02 (one per id, each its own fault kind) waiting for the committee to
    approve a ¥12,000 estimate, asked for on 8 December."""
    async with SqlUnitOfWork(sessions) as uow:
        for n, order_id in enumerate(order_ids):
            wo = order(
                order_id, "demo/elevator/elev-02", at(12, 8, 1 + n), "P3", "staff",
                fault_kind=f"traction-{n}",
            )  # fmt: skip
            wo.assign(MANAGER, at(12, 8, 2 + n), assignee=TECH.user_id)
            wo.acknowledge(TECH, at(12, 8, 3 + n))
            wo.set_cost(TECH, at(12, 8, 4 + n), estimate=Decimal(12000))
            wo.request_approval(TECH, at(12, 8, 5 + n), reason="new traction sheave")
            await uow.work_orders.add(wo)
        await uow.commit()
