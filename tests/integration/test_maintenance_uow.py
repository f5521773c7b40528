"""The UnitOfWork contract, run alike on the in-memory fake and on SQL (SQLite file).

Objects are compared by value after a fresh unit reloads them, so the SQL adapter must
give back exactly what it was given. Tests that only a real database can pass (rollback,
concurrent units, database constraints, audit rows) run on SQL alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from register_support import register_devices
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from maintenance import services
from maintenance.db.audit import verify
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.tables import AuditRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.alarms import Alarm
from maintenance.domain.errors import AlreadyOpen, IllegalTransition
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.signals import DeviceRef, Signal
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.staff import Worker
from maintenance.domain.workorders import Resolution, Status, WorkOrder
from maintenance.sites import RescuePolicy

# The fake lives beside the unit tests, which import it as a top-level module.
sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from maintenance_fakes import FakeClock, FakeUnitOfWork
from people_support import add_technicians

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ELEV = DeviceRef("demo", "elevator", "elev-06")
MANAGER = Actor("mgr-1", "manager")
TECH = Actor("tech-1", "technician")
COMMITTEE = Actor("com-1", "committee")
SUPERVISOR = Actor("sup-1", "supervisor")
RESIDENT = Actor("res-1", "resident")
THRESHOLD = Decimal(5000)
RAISED = Signal(
    kind="raised",
    rule="door_fails_to_close",
    device=ELEV,
    at=T0,
    severity="critical",
    priority="P1",
    fault_kind="door",
    message="door fails to close (E49)",
    building="B3",
    code="02",
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    await upgrade(engine)
    await add_technicians(make_sessionmaker(engine), TECH.user_id)  # who orders go to
    yield engine
    await engine.dispose()


@pytest.fixture(params=["fake", "sql"])
def uow(request: pytest.FixtureRequest, db_url: str) -> UnitOfWork:
    # db_url is named here so that "sql" runs on both databases (a parametrised fixture
    # cannot be requested only at run time); "fake" merely runs twice.
    if request.param == "fake":
        return FakeUnitOfWork(Worker(TECH.user_id, "technician", True, frozenset({"demo"})))
    engine: AsyncEngine = request.getfixturevalue("engine")
    return SqlUnitOfWork(make_sessionmaker(engine))


@pytest.fixture
def sql_uow(engine: AsyncEngine) -> SqlUnitOfWork:
    return SqlUnitOfWork(make_sessionmaker(engine))


def state(obj: Alarm | WorkOrder) -> dict[str, Any]:
    """Everything stored about an object: its fields but the unpersisted events."""
    fields = dataclasses.asdict(obj)
    del fields["pending_events"]
    return fields


def open_order(
    number: int, *, asset: str = str(ELEV), minutes: float = 0, rescue: bool = False
) -> WorkOrder:
    targets = RescuePolicy(backup_maintainer="Backup Co.").targets("Harmony Lift")
    return WorkOrder.open(
        id=f"WO-2026-{number:06d}",
        title="Lift door slow to close",
        asset=asset,
        site="demo",
        category="elevator",
        fault_kind="door",
        priority="P3",
        source="resident",
        now=at(minutes),
        location="B3",
        created_by=RESIDENT,
        requested_by=RESIDENT.user_id,
        description="It takes ages, and reopens twice.",
        rescue=targets if rescue else None,
        code="11" if rescue else None,
    )


def live_a_full_life(order: WorkOrder, alarm: Alarm) -> None:
    """Every kind of change: each list gets items, every optional field a value."""
    steps: list[Callable[[datetime], None]] = [
        lambda t: order.attach_alarm(alarm.id, t, "P2"),
        lambda t: order.assign(MANAGER, t, assignee=TECH.user_id),
        lambda t: order.acknowledge(TECH, t),
        lambda t: order.arrive(TECH, t, latitude=31.2304, longitude=121.4737),
        lambda t: order.release(TECH, t, note="one passenger out"),
        lambda t: order.comment(TECH, t, text="on my way", public=True),
        lambda t: order.comment(MANAGER, t, text="door operator is 18 years old", public=False),
        lambda t: order.set_cost(MANAGER, t, estimate=Decimal("8000.50")),
        lambda t: order.request_approval(MANAGER, t, reason="new door operator"),
        lambda t: order.reject(COMMITTEE, t, reason="get a second quote"),
        lambda t: order.set_cost(MANAGER, t, estimate=Decimal("7200.00")),
        lambda t: order.request_approval(MANAGER, t),
        lambda t: order.approve(COMMITTEE, t, reason="second quote is fair"),
        lambda t: order.start(TECH, t, approval_threshold=THRESHOLD),
        lambda t: order.hold(TECH, t, reason="waiting for the part"),
        lambda t: order.resume(TECH, t, approval_threshold=THRESHOLD),
        lambda t: order.resolve(TECH, t, approval_threshold=THRESHOLD, note="operator replaced"),
        lambda t: order.fail_verification(SUPERVISOR, t, reason="still reopens at 3F"),
        lambda t: order.start(TECH, t, approval_threshold=THRESHOLD),
        lambda t: order.resolve(TECH, t, approval_threshold=THRESHOLD),
        lambda t: order.verify(SUPERVISOR, t, note="closes in 3 s"),
        lambda t: order.set_cost(MANAGER, t, actual=Decimal("7150.25")),
        lambda t: order.record_escalation("response", 1, "manager", t),
        lambda t: order.close(MANAGER, t),
        lambda t: order.rate(RESIDENT, t, stars=4, comment="took a while"),
    ]
    for minute, step in enumerate(steps, start=1):
        step(at(minute))
    alarm.link_work_order(order.id)
    alarm.acknowledge(MANAGER, at(2))


async def test_a_work_order_and_its_alarm_come_back_exactly_as_stored(uow: UnitOfWork) -> None:
    order = open_order(1, rescue=True)  # a rescue order, so that its timeline is stored too
    alarm = Alarm.raise_from("ALM-1", RAISED)
    async with uow:
        await uow.alarms.add(alarm)
        await uow.work_orders.add(order)
        await uow.commit()
    async with uow:
        stored_order = await uow.work_orders.get(order.id)
        stored_alarm = await uow.alarms.get(alarm.id)
        assert stored_order is not None
        assert stored_alarm is not None
        live_a_full_life(stored_order, stored_alarm)
        expected_order, expected_alarm = state(stored_order), state(stored_alarm)
        await uow.commit()

    async with uow:
        order_back = await uow.work_orders.get(order.id)
        alarm_back = await uow.alarms.get(alarm.id)
        assert order_back is not None
        assert alarm_back is not None
        assert state(order_back) == expected_order
        assert state(alarm_back) == expected_alarm
    # The round trip covers every field: all are filled in but these three (the resolution
    # of an order closed as self-cleared: the next test).
    empty = [name for name, value in expected_order.items() if value in (None, [], {})]
    assert empty == ["repeat_of", "cancel_reason", "resolution"]
    assert [len(expected_order[name]) for name in ("notes", "holds", "approvals")] == [2, 1, 2]
    assert expected_order["cost_estimate"] == Decimal("7200.00")
    assert str(expected_order["cost_estimate"]) == "7200.00"


async def test_a_self_cleared_order_comes_back_closed_with_its_resolution(
    uow: UnitOfWork,
) -> None:
    order = open_order(2)
    async with uow:
        await uow.work_orders.add(order)
        await uow.commit()
    async with uow:
        stored = await uow.work_orders.get(order.id)
        assert stored is not None
        stored.close_self_cleared(at(5))
        await uow.commit()
    async with uow:
        back = await uow.work_orders.get(order.id)
        assert back is not None
        assert (back.status, back.resolution, back.closed_at) == (
            Status.CLOSED,
            Resolution.SELF_CLEARED,
            at(5),
        )
        assert await uow.work_orders.open_for(order.asset, order.fault_kind) is None


async def test_a_unit_sees_its_own_changes_and_one_object_per_id(uow: UnitOfWork) -> None:
    async with uow:
        order = open_order(1)
        await uow.work_orders.add(order)
        assert await uow.work_orders.open_for(str(ELEV), "door") is order
        assert await uow.work_orders.get(order.id) is order
        order.cancel(MANAGER, at(1), reason="duplicate of a phone call")
        assert await uow.work_orders.open_for(str(ELEV), "door") is None
        await uow.commit()
    async with uow:
        first = await uow.work_orders.get(order.id)
        assert first is not None
        assert await uow.work_orders.get(order.id) is first
        assert (first.status, first.cancel_reason) == (
            Status.CANCELLED,
            "duplicate of a phone call",
        )


async def test_open_last_closed_and_sla_queries(uow: UnitOfWork) -> None:
    other = "demo/elevator/elev-01"
    async with uow:
        orders = [
            open_order(1, minutes=0),
            open_order(2, minutes=5),
            open_order(3, asset=other, minutes=1),
            open_order(4, asset=other, minutes=-30),
        ]
        for order in orders:
            await uow.work_orders.add(order)
        # elev-06: 1 closed at 10:05, 2 cancelled, 5 closed at 10:20 then 6 left open
        for order, closed in ((orders[0], 5), (orders[1], None)):
            if closed is None:
                order.cancel(MANAGER, at(6), reason="raised twice")
                continue
            walk(order, closed)
        later = open_order(5, minutes=10)
        await uow.work_orders.add(later)
        walk(later, 20)
        await uow.work_orders.add(open_order(6, minutes=30))
        orders[3].cancel(MANAGER, at(2), reason="test")
        await uow.commit()

    async with uow:
        last = await uow.work_orders.last_closed_for(str(ELEV), "door")
        still_open = await uow.work_orders.open_for(str(ELEV), "door")
        due = await uow.work_orders.needing_sla_check()
        assert last is not None
        assert still_open is not None
        assert (last.id, last.closed_at) == ("WO-2026-000005", at(20))
        assert still_open.id == "WO-2026-000006"
        assert [o.id for o in due] == ["WO-2026-000003", "WO-2026-000006"]
        assert await uow.work_orders.last_closed_for(other, "door") is None


def walk(order: WorkOrder, closed_minute: float) -> None:
    t = order.created_at
    order.assign(MANAGER, t, assignee=TECH.user_id)
    order.acknowledge(TECH, t)
    order.resolve(TECH, t, approval_threshold=THRESHOLD)
    order.verify(SUPERVISOR, t)
    order.close(MANAGER, at(closed_minute))


async def test_the_active_alarm_is_the_uncleared_one(uow: UnitOfWork) -> None:
    async with uow:
        old = Alarm.raise_from("ALM-1", RAISED)
        old.clear(at(3))
        await uow.alarms.add(old)
        await uow.alarms.add(Alarm.raise_from("ALM-2", replace(RAISED, at=at(5))))
        await uow.commit()
    async with uow:
        active = await uow.alarms.active_for(ELEV, RAISED.rule)
        assert active is not None
        assert (active.id, active.raised_at) == ("ALM-2", at(5))
        assert await uow.alarms.active_for(ELEV, "smoke") is None
        assert await uow.alarms.get("ALM-3") is None


async def test_numbers_count_per_year(uow: UnitOfWork) -> None:
    async with uow:
        numbers = [await uow.work_orders.next_number(2026) for _ in range(3)]
        numbers.append(await uow.work_orders.next_number(2027))
        await uow.commit()
    async with uow:
        numbers.append(await uow.work_orders.next_number(2026))
        await uow.commit()
    assert numbers == [1, 2, 3, 1, 4]


async def test_the_services_run_a_fault_to_closure(uow: UnitOfWork) -> None:
    clock, policy = FakeClock(T0), SlaPolicy()
    first = await services.handle_signal(uow, RAISED, clock, lambda: "ALM-1")
    assert first.work_order is not None
    order_id = first.work_order.id
    again = await services.handle_signal(uow, replace(RAISED, kind="repeated", at=at(1)), clock)
    assert again.alarm is not None
    assert (again.alarm.id, again.alarm.count, again.decision.alarm) == ("ALM-1", 2, "bump")

    clock.advance(minutes=16)  # past the P1 response target: escalate once
    escalated = [await services.check_slas(uow, policy, clock) for _ in range(2)]
    assert [len(check.escalations) for check in escalated] == [1, 0]
    steps: list[tuple[cmd.OrderCommand, Actor]] = [
        (cmd.Assign(order_id, TECH.user_id), MANAGER),
        (cmd.Acknowledge(order_id), TECH),
        (cmd.Resolve(order_id, "door lock contact cleaned"), TECH),
        (cmd.Verify(order_id), SUPERVISOR),
        (cmd.Close(order_id), MANAGER),
    ]
    for command, actor in steps:
        clock.advance(minutes=5)
        await services.perform(uow, command, actor, clock, policy)
    await services.handle_signal(uow, replace(RAISED, kind="cleared", at=clock()), clock)

    clock.advance(days=3)
    back = await services.handle_signal(uow, replace(RAISED, at=clock()), clock, lambda: "ALM-2")
    assert back.work_order is not None
    async with uow:
        repeat = await uow.work_orders.get(back.work_order.id)
        assert repeat is not None
        assert (repeat.id, repeat.repeat_of) == ("WO-2026-000002", order_id)
        closed = await uow.work_orders.get(order_id)
        assert closed is not None
        assert (closed.status, closed.alarm_ids) == (Status.CLOSED, ["ALM-1"])
        assert [(e.clock, e.level) for e in closed.escalations] == [("response", 1)]


# --- SQL only ---------------------------------------------------------------------------


async def test_leaving_without_commit_or_rolling_back_discards_changes(
    sql_uow: SqlUnitOfWork,
) -> None:
    async with sql_uow:
        await sql_uow.work_orders.add(open_order(1))
        assert await sql_uow.work_orders.next_number(2026) == 1
    async with sql_uow:
        await sql_uow.work_orders.add(open_order(2))
        await sql_uow.rollback()
        await sql_uow.commit()
    async with sql_uow:
        assert await sql_uow.work_orders.needing_sla_check() == []
        assert await sql_uow.work_orders.next_number(2026) == 1  # never stored: handed out again


async def test_concurrent_units_never_share_a_number(db_url: str, engine: AsyncEngine) -> None:
    second = make_engine(db_url)  # its own connections, like another process

    async def take(engine: AsyncEngine) -> list[int]:
        taken = []
        for _ in range(10):
            async with SqlUnitOfWork(make_sessionmaker(engine)) as uow:
                taken.append(await uow.work_orders.next_number(2026))
                await asyncio.sleep(0)  # give the other units a chance to interleave
                await uow.commit()
        return taken

    try:
        results = await asyncio.gather(take(engine), take(second), take(engine))
    finally:
        await second.dispose()
    numbers = sorted(n for taken in results for n in taken)
    assert numbers == list(range(1, 31))


async def test_the_same_action_from_two_processes_at_once_is_done_once(
    engine: AsyncEngine, db_url: str
) -> None:
    """Two API processes (two engines, two pools) acknowledge the same order at the same
    moment, round after round: one wins, the other is refused as the state machine refuses
    a second acknowledgement (IllegalTransition: the API's 409), and the trail records one
    acknowledgement per order in an intact chain."""
    second = make_engine(db_url)
    clock, policy = FakeClock(T0), SlaPolicy()
    rounds = 20
    try:
        for number in range(1, rounds + 1):
            async with SqlUnitOfWork(make_sessionmaker(engine)) as uow:
                order = open_order(number, asset=f"demo/elevator/e{number}")
                order.assign(MANAGER, T0, assignee=TECH.user_id)
                await uow.work_orders.add(order)
                await uow.commit()
            ack = cmd.Acknowledge(f"WO-2026-{number:06d}")
            results = await asyncio.gather(
                *(
                    services.perform(SqlUnitOfWork(make_sessionmaker(e)), ack, TECH, clock, policy)
                    for e in (engine, second)
                ),
                return_exceptions=True,
            )
            won = [r for r in results if isinstance(r, services.OrderResult)]
            refused = [r for r in results if isinstance(r, IllegalTransition)]
            assert (len(won), len(refused)) == (1, 1), f"round {number}: {results}"
    finally:
        await second.dispose()
    async with make_sessionmaker(engine)() as session:
        acks = (
            await session.scalars(
                select(AuditRow.entity_id).where(AuditRow.action == "work_order.acknowledge")
            )
        ).all()
        report = await verify(session)
    assert sorted(acks) == [f"WO-2026-{n:06d}" for n in range(1, rounds + 1)]
    assert report.intact, str(report)


async def test_two_processes_opening_an_order_for_one_fault_at_once_open_one(
    engine: AsyncEngine, db_url: str
) -> None:
    """The check for an open order and the new order's insert are one step per (asset,
    fault kind): of two processes asking at once, one opens it and the other is told it
    is already open (the API's 409), never a unique-index error (a 500)."""
    second = make_engine(db_url)
    clock = FakeClock(T0)
    rounds = 20

    async def ask(engine: AsyncEngine, asset: str) -> services.OrderResult:
        return await services.create_order(
            SqlUnitOfWork(make_sessionmaker(engine)),
            MANAGER,
            clock,
            title="Door slow",
            asset=asset,
            site="demo",
            category="elevator",
            fault_kind="door",
            priority="P3",
        )

    cars = [f"demo/elevator/c{number}" for number in range(rounds)]
    await register_devices(make_sessionmaker(engine), *cars)
    try:
        for asset in cars:
            results = await asyncio.gather(
                ask(engine, asset), ask(second, asset), return_exceptions=True
            )
            won = [r for r in results if isinstance(r, services.OrderResult)]
            refused = [r for r in results if isinstance(r, AlreadyOpen)]
            assert (len(won), len(refused)) == (1, 1), f"{asset}: {results}"
    finally:
        await second.dispose()
    async with make_sessionmaker(engine)() as session:
        assert (await verify(session)).intact


async def test_an_alarm_clearing_while_its_order_is_acknowledged_does_both(
    engine: AsyncEngine, db_url: str
) -> None:
    """A worker clears an alarm (its unit audits the clear, then loads the alarm's order)
    while an API process holds that order to acknowledge it: both commit, one after the
    other. Had the worker's unit taken the audit trail's lock and then waited for the
    order's row, while the API's held the row and waited for the trail, PostgreSQL would
    have broken the circle by failing one of them."""
    clock = FakeClock(T0)
    raised = await services.handle_signal(
        SqlUnitOfWork(make_sessionmaker(engine)), RAISED, clock, lambda: "ALM-1"
    )
    assert raised.work_order is not None
    order_id = raised.work_order.id
    api = make_engine(db_url)  # its own connections, like another process
    try:
        async with SqlUnitOfWork(make_sessionmaker(api)) as held:
            order = await held.work_orders.get(order_id)  # locked until this unit ends
            assert order is not None
            clear = replace(RAISED, kind="cleared", at=at(1))
            worker = SqlUnitOfWork(make_sessionmaker(engine))
            clearing = asyncio.create_task(services.handle_signal(worker, clear, clock))
            await asyncio.sleep(0.5)  # the clear gets as far as the lock it must wait for
            assert not clearing.done()
            order.assign(MANAGER, at(2), assignee=TECH.user_id)
            order.acknowledge(TECH, at(2))
            await held.commit()
        cleared = await clearing
    finally:
        await api.dispose()
    assert cleared.alarm is not None
    assert not cleared.alarm.active
    async with SqlUnitOfWork(make_sessionmaker(engine)) as uow:
        stored = await uow.work_orders.get(order_id)
        assert stored is not None
        assert stored.status == Status.ACKNOWLEDGED  # acknowledged in time: not self-cleared
    async with make_sessionmaker(engine)() as session:
        actions = (await session.scalars(select(AuditRow.action).order_by(AuditRow.id))).all()
        assert (await verify(session)).intact
    assert actions[-3:] == ["work_order.assign", "work_order.acknowledge", "alarm.cleared"]


async def test_the_database_keeps_one_active_alarm_per_device_and_rule(
    sql_uow: SqlUnitOfWork, engine: AsyncEngine
) -> None:
    async with sql_uow:
        await sql_uow.alarms.add(Alarm.raise_from("ALM-1", RAISED))
        await sql_uow.commit()
    # A second unit that does not look first (a bug, or a race) is refused by the index.
    async with SqlUnitOfWork(make_sessionmaker(engine)) as other:
        await other.alarms.add(Alarm.raise_from("ALM-2", RAISED))
        # SQLite: "UNIQUE constraint failed"; PostgreSQL: "violates unique constraint".
        with pytest.raises(IntegrityError, match=r"(?i)unique constraint"):
            await other.commit()


async def test_every_event_is_audited_once_in_the_same_transaction(
    sql_uow: SqlUnitOfWork, engine: AsyncEngine
) -> None:
    clock = FakeClock(T0)
    outcome = await services.handle_signal(sql_uow, RAISED, clock, lambda: "ALM-1")
    assert outcome.work_order is not None
    clock.advance(minutes=1)
    await services.perform(
        sql_uow, cmd.Assign(outcome.work_order.id, "tech-1"), MANAGER, clock, SlaPolicy()
    )
    async with make_sessionmaker(engine)() as session:
        rows = (await session.scalars(select(AuditRow).order_by(AuditRow.id))).all()
        report = await verify(session)
    assert [(r.actor, r.action, r.entity_id, r.from_state, r.to_state) for r in rows] == [
        ("system", "alarm.raised", "ALM-1", None, None),
        ("system", "work_order.created", "WO-2026-000001", None, "new"),
        ("manager:mgr-1", "work_order.assign", "WO-2026-000001", "new", "assigned"),
    ]
    assert rows[2].detail == {"assignee": "tech-1"}
    assert report.intact
