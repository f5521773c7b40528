"""Committee proposals, evidence and votes on a real SQLite file, audited as they change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from maintenance.db.audit import history, verify
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.read.assets import find_asset
from maintenance.db.read.committee import (
    ProposalRecord,
    get_proposal,
    get_vote,
    list_proposals,
    proposals_between,
)
from maintenance.db.read.evidence import elevator_evidence
from maintenance.db.tables import AuditRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.alarms import Alarm
from maintenance.domain.errors import CommitteeConflict, InvalidRequest, NotFound
from maintenance.domain.evidence import ElevatorEvidence
from maintenance.domain.proposals import SpendingProposal
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.domain.votes import CommitteeDecision, Electorate, Tally
from maintenance.domain.workorders import WorkOrder
from maintenance.services import create_proposal, emergency_decision, open_vote, record_tally
from maintenance.sites import load_site_file

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
NOW = datetime(2026, 11, 24, tzinfo=UTC)


def clock() -> datetime:
    return NOW


MANAGER = Actor("mgr-1", "manager")
CHAIR = Actor("chair", "committee")
ELEV06 = DeviceRef("demo", "elevator", "elev-06")
ELECTORATE = Electorate(owners_total=300, area_total_m2=Decimal("30000"))


def day(year: int, month: int, dd: int) -> datetime:
    return datetime(year, month, dd, 9, tzinfo=UTC)


def fault(n: int, at: datetime, kind: str = "door", order_id: str | None = None) -> Alarm:
    signal = Signal(
        kind="raised",
        rule=f"rule_{n}",
        device=ELEV06,
        at=at,
        severity="critical",
        priority="P1",
        fault_kind=kind,
        message=kind,
    )
    alarm = Alarm.raise_from(f"ALM-{n}", signal)
    if order_id is not None:
        alarm.link_work_order(order_id)
    return alarm


def repair(
    order_id: str, at: datetime, cost: str, alarm_id: str, repeat_of: str | None = None
) -> WorkOrder:
    order = WorkOrder.open(
        id=order_id,
        title="door fails to close",
        asset=str(ELEV06),
        site="demo",
        category="elevator",
        fault_kind="door",
        priority="P1",
        source="alarm",
        now=at,
        repeat_of=repeat_of,
        alarm_ids=(alarm_id,),
    )
    order.set_cost(MANAGER, at, actual=Decimal(cost))
    return order


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """The demo compound; elev-06 (installed 2004-11-01, inspected 2025-10-28) has four
    door faults in the year to NOW, one before it, and an offline alarm (no fault)."""
    engine = make_engine(db_url)
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    async with SqlUnitOfWork(sessions) as uow:
        await uow.sites.import_file(load_site_file(DEMO), actor="cli:test", at=NOW, source="demo")
        await uow.commit()
    first = repair("WO-1", day(2026, 6, 1), "1000", "ALM-3")
    first.cancel(MANAGER, day(2026, 6, 2), reason="fixed on the first visit")
    again = repair("WO-2", day(2026, 9, 1), "2500", "ALM-4", repeat_of="WO-1")
    async with SqlUnitOfWork(sessions) as uow:
        await uow.work_orders.add(first)
        await uow.work_orders.add(again)
        for alarm in (
            fault(1, day(2025, 6, 1)),
            fault(2, day(2026, 3, 1)),
            fault(3, day(2026, 6, 1), order_id="WO-1"),
            fault(4, day(2026, 9, 1), order_id="WO-2"),
            fault(5, day(2026, 11, 1)),
            fault(6, day(2026, 11, 2), kind="offline"),
        ):
            await uow.alarms.add(alarm)
        await uow.commit()
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


async def _evidence(sessions: async_sessionmaker[AsyncSession]) -> ElevatorEvidence:
    async with sessions() as session:
        asset = await find_asset(session, "elev-06")
        return await elevator_evidence(session, asset, NOW)


async def _proposal(
    sessions: async_sessionmaker[AsyncSession], *, emergency: bool = False
) -> ProposalRecord:
    async with SqlUnitOfWork(sessions) as uow:
        asset = await find_asset(uow.session, "elev-06", site="demo")
        evidence = await elevator_evidence(uow.session, asset, NOW)
    proposal = await create_proposal(
        SqlUnitOfWork(sessions),
        MANAGER,
        clock,
        title="Replace the door operator of elev-06",
        amount=Decimal("48000.50"),
        asset_id=asset.row_id,
        emergency=emergency,
        justification="passengers trapped twice" if emergency else None,
        evidence=evidence,
    )
    async with sessions() as session:
        return await get_proposal(session, proposal.id)


async def test_evidence_counts_the_years_faults_repeats_and_costs(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    evidence = await _evidence(sessions)
    assert evidence.asset_id == "demo/elevator/elev-06"
    assert evidence.age_years == 22
    # 2026-03, -06, -09, -11: the 2025-06 fault is before the year, "offline" no fault.
    assert (evidence.faults, evidence.faults_by_kind) == (4, {"door": 4})
    assert evidence.repeat_faults == 1  # ALM-4 opened WO-2, a repeat of WO-1
    assert evidence.mtbf_calendar_hours == 365 * 24 / 4
    assert (evidence.trips, evidence.faults_per_1000_trips) == (0, None)
    assert evidence.cost_to_date == Decimal("3500")
    # Faults are not frequent (one every 2,190 h), but the inspection is 392 days old.
    assert evidence.recommendation == "safety_evaluation"
    assert any("inspection overdue" in reason for reason in evidence.reasons)


async def test_an_unknown_or_non_elevator_device_has_no_evidence(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        with pytest.raises(NotFound, match="no registered device 'elev-99'"):
            await find_asset(session, "elev-99")
        with pytest.raises(NotFound):
            await find_asset(session, "elev-06", site="elsewhere")
        charger = await find_asset(session, "charger-01")
        with pytest.raises(InvalidRequest, match="not an elevator"):
            await elevator_evidence(session, charger, NOW)


async def test_a_proposal_keeps_its_evidence_and_is_audited(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    record = await _proposal(sessions)
    async with sessions() as session:
        stored = await get_proposal(session, record.id)
        trail = await history(session, "proposal", record.id)
        report = await verify(session)
    assert (stored.status, stored.site, stored.device_id) == ("open", "demo", "elev-06")
    assert stored.amount == Decimal("48000.50")
    assert stored.evidence is not None
    assert stored.evidence["recommendation"] == "safety_evaluation"
    assert stored.evidence["faults"] == 4
    assert [(e.action, e.actor, e.to_state) for e in trail] == [
        ("proposal.created", "manager:mgr-1", "open")
    ]
    assert trail[0].detail["amount"] == "48000.50"
    assert report.intact


async def test_owners_vote_passes_at_exactly_two_thirds_participation(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    record = await _proposal(sessions)
    # 200 of 300 owners with 20,000 of 30,000 m2 take part: exactly 2/3 both ways;
    # 150 owners with 14,000 m2 agree: 3/4 by headcount, 7/10 by area.
    counted = Tally(
        for_owners=150,
        for_area_m2=Decimal(14000),
        against_owners=40,
        against_area_m2=Decimal(4500),
        abstain_owners=10,
        abstain_area_m2=Decimal(1500),
    )
    opened = await open_vote(SqlUnitOfWork(sessions), CHAIR, clock, record.id, ELECTORATE)
    assert (opened.path, opened.passed, opened.electorate) == ("owners", None, ELECTORATE)
    vote = await record_tally(SqlUnitOfWork(sessions), CHAIR, clock, record.id, counted)
    assert vote.passed is True
    assert vote.result is not None
    assert vote.result["participation_by_headcount"] == "2/3"
    assert vote.result["participation_by_area"] == "2/3"
    assert (vote.result["approval_by_headcount"], vote.result["approval_by_area"]) == (
        "3/4",
        "7/10",
    )
    async with sessions() as session:
        decided = await get_proposal(session, record.id)
        trail = [e.action for e in await history(session, "proposal", record.id)]
        assert (await get_vote(session, record.id)) == vote
    assert (decided.status, decided.decided_at) == ("decided", NOW)
    assert trail == ["proposal.created", "proposal.vote_opened", "proposal.decided"]
    with pytest.raises(CommitteeConflict, match="decided at"):
        await record_tally(SqlUnitOfWork(sessions), CHAIR, clock, record.id, counted)
    with pytest.raises(CommitteeConflict, match="decided at"):
        await open_vote(SqlUnitOfWork(sessions), CHAIR, clock, record.id, ELECTORATE)


async def test_a_tie_fails_and_an_impossible_tally_changes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    record = await _proposal(sessions)
    await open_vote(SqlUnitOfWork(sessions), CHAIR, clock, record.id, ELECTORATE)
    async with sessions() as session:
        audit_rows = await session.scalar(select(func.count()).select_from(AuditRow))
    too_many = Tally(for_owners=301, for_area_m2=Decimal(1))
    with pytest.raises(InvalidRequest, match="301 owners took part"):
        await record_tally(SqlUnitOfWork(sessions), CHAIR, clock, record.id, too_many)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuditRow)) == audit_rows
        assert (await get_proposal(session, record.id)).status == "open"
    tie = Tally(
        for_owners=100,
        for_area_m2=Decimal(10000),
        against_owners=100,
        against_area_m2=Decimal(10000),
    )
    vote = await record_tally(SqlUnitOfWork(sessions), CHAIR, clock, record.id, tie)
    assert vote.passed is False
    assert vote.result is not None
    assert any("does not meet > 1/2" in reason for reason in vote.result["reasons"])


async def test_the_emergency_path_needs_an_emergency_and_no_owners_vote(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    three_of_five = CommitteeDecision(members_total=5, for_members=3, against_members=1)
    ordinary = await _proposal(sessions)
    uow = SqlUnitOfWork(sessions)
    with pytest.raises(CommitteeConflict, match="not an emergency"):
        await emergency_decision(uow, CHAIR, clock, ordinary.id, three_of_five)
    with pytest.raises(InvalidRequest, match="needs a justification"):
        await create_proposal(uow, MANAGER, clock, title="Lift", amount=Decimal(1), emergency=True)
    with pytest.raises(NotFound, match="no proposal PRP-nope"):
        await emergency_decision(uow, CHAIR, clock, "PRP-nope", three_of_five)
    urgent = await _proposal(sessions, emergency=True)
    vote = await emergency_decision(uow, CHAIR, clock, urgent.id, three_of_five)
    assert (vote.path, vote.passed) == ("committee_emergency", True)
    assert vote.result is not None
    assert vote.result["approval_of_members"] == "3/5"

    pending = await _proposal(sessions, emergency=True)
    await open_vote(uow, CHAIR, clock, pending.id, ELECTORATE)
    with pytest.raises(CommitteeConflict, match=r"owners' vote .* is under way"):
        await emergency_decision(uow, CHAIR, clock, pending.id, three_of_five)
    async with sessions() as session:
        listed = {p.id: p.status for p in await list_proposals(session)}
        open_ids = {p.id for p in await list_proposals(session, "open")}
        month = [p.id for p in await proposals_between(session, NOW, day(2026, 12, 1))]
    assert listed == {ordinary.id: "open", urgent.id: "decided", pending.id: "open"}
    assert open_ids == {ordinary.id, pending.id}
    assert sorted(month) == sorted(listed)


async def test_a_rolled_back_proposal_leaves_no_audit_entry(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    record = SpendingProposal.create(
        id="PRP-000000000001", title="Paint the lobby", amount=Decimal(900), actor=MANAGER, now=NOW
    )
    async with SqlUnitOfWork(sessions) as uow:
        await uow.proposals.add(record)
        await uow.flush()  # written and audited in the unit's transaction...
        assert await uow.proposals.get(record.id) is record
        trail = await history(uow.session, "proposal", record.id)
        assert [e.action for e in trail] == ["proposal.created"]
        await uow.rollback()  # ...and gone with it
    async with sessions() as session:
        assert await history(session, "proposal", record.id) == []
        with pytest.raises(NotFound):
            await get_proposal(session, record.id)
