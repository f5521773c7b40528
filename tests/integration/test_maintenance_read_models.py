"""The API's read models (maintenance.db.read) on a real SQLite file.

Orders are made through the service layer, as the API and the worker make them, so the
queries read what the write side really stores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from people_support import add_technicians
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from maintenance import services
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.mapping import ALARM, WORK_ORDER
from maintenance.db.migrations import upgrade
from maintenance.db.read.alarms import AlarmFilters, list_alarms
from maintenance.db.read.pages import MAX_PAGE_SIZE, PageRequest
from maintenance.db.read.work_orders import (
    SortKey,
    WorkOrderFilters,
    WorkOrderSort,
    list_work_orders,
    open_order_counts,
    order_detail,
)
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.signals import DeviceRef, Priority, Signal
from maintenance.domain.sla import SlaClocks, SlaPolicy
from maintenance.domain.workorders import Status

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
POLICY = SlaPolicy()
MANAGER = Actor("mgr-1", "manager")
TECH = Actor("tech-1", "technician")
RESIDENT = Actor("res-1", "resident")
NEIGHBOUR = Actor("res-2", "resident")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    await upgrade(engine)
    await add_technicians(make_sessionmaker(engine), TECH.user_id)  # who orders go to
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


class Desk:
    """Makes and moves orders through the service layer on a controllable clock."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.now = T0

    def clock(self) -> datetime:
        return self.now

    async def order(
        self,
        minutes: float,
        asset: str,
        *,
        priority: Priority = "P3",
        site: str = "demo",
        by: Actor = RESIDENT,
    ) -> str:
        self.now = at(minutes)
        result = await services.create_order(
            SqlUnitOfWork(self.sessions),
            by,
            self.clock,
            title=f"fault at {asset}",
            asset=asset,
            site=site,
            category="building",
            fault_kind="general",
            priority=priority,
        )
        return result.order.id

    async def act(self, minutes: float, command: cmd.OrderCommand, by: Actor) -> None:
        self.now = at(minutes)
        await services.perform(SqlUnitOfWork(self.sessions), command, by, self.clock, POLICY)


@pytest.fixture
def desk(sessions: async_sessionmaker[AsyncSession]) -> Desk:
    return Desk(sessions)


async def ids(sessions: async_sessionmaker[AsyncSession], now: datetime, **kw: Any) -> list[str]:
    async with sessions() as session:
        page = await list_work_orders(session, now=now, **kw)
    return [item.id for item in page.items]


async def test_filters_each_narrow_to_the_matching_orders(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    a = await desk.order(0, "demo/building/B1/stairwell", priority="P1")
    b = await desk.order(1, "demo/building/B2/lobby", priority="P3")
    c = await desk.order(2, "north/building/B1/gate", priority="P3", site="north")
    await desk.act(3, cmd.Assign(a, assignee=TECH.user_id), MANAGER)
    await desk.act(4, cmd.Cancel(b, reason="duplicate of a phone call"), MANAGER)
    now = at(5)

    assert await ids(sessions, now) == [c, b, a]  # newest first by default
    open_only = WorkOrderFilters(status=frozenset({Status.NEW, Status.ASSIGNED}))
    assert await ids(sessions, now, filters=open_only) == [c, a]
    assert await ids(sessions, now, filters=WorkOrderFilters(priority=frozenset({"P1"}))) == [a]
    assert await ids(sessions, now, filters=WorkOrderFilters(site="north")) == [c]
    assert await ids(sessions, now, filters=WorkOrderFilters(building="B1")) == [c, a]
    assert await ids(sessions, now, filters=WorkOrderFilters(site="demo", building="B1")) == [a]
    assert await ids(sessions, now, filters=WorkOrderFilters(asset="demo/building/B2/lobby")) == [b]
    assert await ids(sessions, now, filters=WorkOrderFilters(assignee=TECH.user_id)) == [a]
    hostile = WorkOrderFilters(site="demo' OR '1'='1", building="%", asset='x"; DROP TABLE x;--')
    assert await ids(sessions, now, filters=hostile) == []


async def test_an_order_is_in_the_building_its_alarm_came_from(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    signal = Signal(
        kind="raised",
        rule="entrapment",
        device=DeviceRef("demo", "elevator", "elev-03"),
        at=at(0),
        severity="critical",
        priority="P1",
        fault_kind="entrapment",
        message="passenger trapped",
        building="B3",
    )
    outcome = await services.handle_signal(SqlUnitOfWork(sessions), signal, desk.clock)
    assert outcome.work_order is not None
    await desk.order(1, "demo/building/B4/lobby")

    in_b3 = await ids(sessions, at(2), filters=WorkOrderFilters(building="B3"))
    assert in_b3 == [outcome.work_order.id]


async def test_due_and_overdue_follow_the_sla_clocks_and_skip_hold_time(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    late = await desk.order(0, "demo/building/B1/a", priority="P1")  # P1: ack within 10 min
    answered = await desk.order(0, "demo/building/B1/b", priority="P1")
    await desk.act(1, cmd.Assign(answered, assignee=TECH.user_id), MANAGER)
    await desk.act(5, cmd.Acknowledge(answered), TECH)  # response stops; feedback due at 60
    held = await desk.order(0, "demo/building/B1/c", priority="P1")
    await desk.act(1, cmd.Assign(held, assignee=TECH.user_id), MANAGER)
    await desk.act(2, cmd.Acknowledge(held), TECH)
    await desk.act(3, cmd.Start(held), TECH)  # feedback stops; resolution: 240 min
    await desk.act(30, cmd.Hold(held, reason="waiting for a door operator"), TECH)
    await desk.act(130, cmd.Resume(held), TECH)  # 100 minutes on hold: due at 240 + 100
    now = at(300)

    async with sessions() as session:
        page = await list_work_orders(session, now=now)
        summaries = {item.id: item for item in page.items}
        detail = await order_detail(session, held, policy=POLICY, now=now)
    assert (summaries[late].due_at, summaries[late].overdue) == (at(10), True)
    assert (summaries[answered].due_at, summaries[answered].overdue) == (at(60), True)
    assert (summaries[held].due_at, summaries[held].overdue) == (at(340), False)
    assert detail is not None
    assert detail.clocks.resolution.due_at == summaries[held].due_at

    overdue = await ids(sessions, now, filters=WorkOrderFilters(overdue=True))
    assert sorted(overdue) == sorted([late, answered])
    assert await ids(sessions, now, filters=WorkOrderFilters(overdue=False)) == [held]
    by_due = await ids(sessions, now, sort=WorkOrderSort(SortKey.DUE, descending=False))
    assert by_due == [late, answered, held]


async def test_the_list_and_the_detail_show_one_due_time_for_an_order_with_a_late_hold(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    late = await desk.order(0, "demo/building/B1/a", priority="P1")  # resolve within 240
    await desk.act(1, cmd.Assign(late, assignee=TECH.user_id), MANAGER)
    await desk.act(2, cmd.Acknowledge(late), TECH)
    await desk.act(3, cmd.Start(late), TECH)
    await desk.act(250, cmd.Hold(late, reason="waiting for a part"), TECH)  # already late

    async def both(now: datetime) -> tuple[object, object, object, bool]:
        async with sessions() as session:
            page = await list_work_orders(session, now=now)
            detail = await order_detail(session, late, policy=POLICY, now=now)
        assert detail is not None
        return (
            page.items[0].due_at,
            detail.due_at,
            detail.clocks.resolution.due_at,
            page.items[0].overdue,
        )

    assert await both(at(270)) == (at(240), at(240), at(240), True)  # on hold, still late
    await desk.act(300, cmd.Resume(late), TECH)
    assert await both(at(310)) == (at(240), at(240), at(240), True)
    assert await ids(sessions, at(310), filters=WorkOrderFilters(overdue=True)) == [late]


async def test_a_changed_policy_recomputes_the_stored_due_times_of_open_orders(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    open_order = await desk.order(0, "demo/building/B1/a", priority="P1")
    closed = await desk.order(0, "demo/building/B1/b", priority="P1")
    await desk.act(1, cmd.Cancel(closed, reason="reported twice"), MANAGER)
    slower = SlaPolicy.model_validate(
        {
            "targets": {
                "P1": {"acknowledge_within": 25, "feedback_within": 90, "resolve_within": 480}
            }
        }
    )

    async def due(now: datetime) -> dict[str, datetime | None]:
        async with sessions() as session:
            return {i.id: i.due_at for i in (await list_work_orders(session, now=now)).items}

    assert await due(at(2)) == {open_order: at(10), closed: None}
    assert await services.refresh_due_times(SqlUnitOfWork(sessions, sla=POLICY)) == 0
    assert await services.refresh_due_times(SqlUnitOfWork(sessions, sla=slower)) == 1
    assert await due(at(2)) == {open_order: at(25), closed: None}
    assert await services.refresh_due_times(SqlUnitOfWork(sessions, sla=slower)) == 0
    # A unit under the new policy keeps it as the order changes.
    await services.perform(
        SqlUnitOfWork(sessions, sla=slower),
        cmd.Assign(open_order, TECH.user_id),
        MANAGER,
        desk.clock,
        slower,
    )
    assert await due(at(2)) == {open_order: at(25), closed: None}


async def test_a_cancelled_or_resolved_order_is_never_due(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    cancelled = await desk.order(0, "demo/building/B1/a", priority="P1")
    await desk.act(1, cmd.Cancel(cancelled, reason="reported twice"), MANAGER)
    resolved = await desk.order(0, "demo/building/B1/b", priority="P1")
    await desk.act(1, cmd.Assign(resolved, assignee=TECH.user_id), MANAGER)
    await desk.act(2, cmd.Acknowledge(resolved), TECH)
    await desk.act(3, cmd.Resolve(resolved), TECH)

    async with sessions() as session:
        page = await list_work_orders(session, now=at(10_000))
    assert [(i.due_at, i.overdue) for i in page.items] == [(None, False), (None, False)]


async def test_pages_walk_every_order_once_in_each_sort(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    priorities: list[Priority] = ["P2", "P1", "P3", "P1", "P4", "P2", "P3"]
    for n, priority in enumerate(priorities):
        await desk.order(n, f"demo/building/B1/room-{n}", priority=priority)
    for key in SortKey:
        for descending in (False, True):
            sort = WorkOrderSort(key, descending)
            everything = await ids(sessions, at(60), sort=sort)
            walked: list[str] = []
            cursor = None
            async with sessions() as session:
                while True:
                    page = await list_work_orders(
                        session,
                        now=at(60),
                        sort=sort,
                        page=PageRequest(limit=3, cursor=cursor),
                    )
                    walked += [item.id for item in page.items]
                    if page.next_cursor is None:
                        break
                    cursor = page.next_cursor
            assert walked == everything, sort
            assert len(set(walked)) == len(priorities)

    by_priority = await ids(sessions, at(60), sort=WorkOrderSort.parse("priority"))
    async with sessions() as session:
        page = await list_work_orders(session, now=at(60))
    created = {item.id: item.priority for item in page.items}
    assert [created[i] for i in by_priority] == sorted(priorities)


async def test_a_list_of_open_statuses_reads_the_open_order_index(
    desk: Desk, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A site's open P1/P2 orders, newest first: the planner takes the partial index of
    open orders (revision 0022) only when the query states its predicate, which the list
    adds for a status filter of open states; a filter with a closed state must not."""
    a = await desk.order(0, "demo/building/B1/stairwell", priority="P1")
    b = await desk.order(1, "demo/building/B1/lobby", priority="P2")
    await desk.act(2, cmd.Cancel(b, reason="duplicate of a phone call"), MANAGER)
    opened = frozenset(s for s in Status if s not in (Status.CLOSED, Status.CANCELLED))
    statements: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.lstrip().startswith("SELECT work_order.id"):
            statements.append((sql, params))

    event.listen(engine.sync_engine, "before_cursor_execute", keep)
    try:
        for status, expected in ((opened, [a]), (opened | {Status.CANCELLED}, [b, a])):
            filters = WorkOrderFilters(status=status, priority=frozenset({"P1", "P2"}), site="demo")
            assert await ids(sessions, at(3), filters=filters) == expected
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", keep)

    plans = []
    async with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:  # a table this small is cheaper to scan: ask for the index plan
            await connection.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        for sql, params in statements:
            found = await connection.exec_driver_sql(explain + sql, params)
            plans.append(" ".join(str(row[-1]) for row in found))
    index = "ix_work_order_open_site_created_at_id"
    assert index in plans[0], plans[0]
    assert index not in plans[1], plans[1]


async def test_bad_pages_sorts_and_cursors_are_refused(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for n in range(3):
        await desk.order(n, f"demo/building/B1/room-{n}")
    for limit in (0, -1, MAX_PAGE_SIZE + 1, 10**9):
        with pytest.raises(InvalidRequest, match="page size"):
            PageRequest(limit=limit)
    with pytest.raises(InvalidRequest, match="sort by one of"):
        WorkOrderSort.parse("title; DROP TABLE work_order")
    async with sessions() as session:
        first = await list_work_orders(session, now=at(5), page=PageRequest(limit=1))
        assert first.next_cursor is not None
        for cursor, sort in (
            (first.next_cursor, WorkOrderSort(SortKey.PRIORITY)),  # made for another sort
            ("not-base64!!", WorkOrderSort()),
            ("W10", WorkOrderSort()),  # "[]"
            ("WyJ3bzpjcmVhdGVkX2F0OmQiLDEsIngiXQ", WorkOrderSort()),  # a number for a time
        ):
            with pytest.raises(InvalidRequest, match="cursor"):
                await list_work_orders(session, now=at(5), sort=sort, page=PageRequest(1, cursor))


async def test_what_the_visibility_clause_leaves_out_is_neither_listed_nor_found(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    mine = await desk.order(0, "demo/building/B1/a")
    neighbours = await desk.order(1, "demo/building/B1/b", by=NEIGHBOUR)
    now = at(10)

    own = WORK_ORDER.c.requested_by == RESIDENT.user_id
    assert await ids(sessions, now) == [neighbours, mine]
    assert await ids(sessions, now, visible=own) == [mine]
    async with sessions() as session:
        assert await order_detail(session, neighbours, policy=POLICY, now=now, visible=own) is None
        assert await order_detail(session, "WO-2026-999999", policy=POLICY, now=now) is None
        assert await order_detail(session, mine, policy=POLICY, now=now, visible=own)


async def test_detail_carries_history_and_clocks(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    order_id = await desk.order(0, "demo/building/B1/a", priority="P2")
    await desk.act(3, cmd.Assign(order_id, assignee=TECH.user_id), MANAGER)
    await desk.act(12, cmd.Acknowledge(order_id), TECH)
    await desk.act(20, cmd.Comment(order_id, text="parts ordered", public=True), TECH)

    async with sessions() as session:
        detail = await order_detail(session, order_id, policy=POLICY, now=at(45))
    assert detail is not None
    actions = ["created", "assign", "acknowledge", "comment"]
    assert [e.action for e in detail.history] == [f"work_order.{a}" for a in actions]
    assert detail.order.assignee == TECH.user_id
    assert [n.text for n in detail.order.notes] == ["parts ordered"]
    assert detail.clocks == SlaClocks.of(detail.order, POLICY, at(45))
    # P2: acknowledge within 30 min (done at 12), feedback within 120 (the note at 20).
    assert (detail.clocks.response.elapsed_minutes, detail.clocks.response.breached) == (12, False)
    assert detail.clocks.feedback.stopped_at == at(20)
    assert detail.clocks.resolution.elapsed_minutes == 45


async def test_alarms_filter_and_page(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    def signal(device_id: str, minutes: float, **kw: Any) -> Signal:
        fields: dict[str, Any] = {
            "kind": "raised",
            "rule": "device_offline",
            "device": DeviceRef("demo", "smoke_alarm", device_id),
            "at": at(minutes),
            "severity": "minor",
            "priority": None,
            "fault_kind": "offline",
            "message": f"{device_id} silent",
            "building": "B1",
        } | kw
        return Signal(**fields)

    made = []
    for n in range(5):
        outcome = await services.handle_signal(
            SqlUnitOfWork(sessions), signal(f"smoke-{n}", n, building=f"B{n % 2}"), desk.clock
        )
        assert outcome.alarm is not None
        made.append(outcome.alarm.id)
    await services.acknowledge_alarm(SqlUnitOfWork(sessions), made[0], TECH, desk.clock)
    await services.handle_signal(
        SqlUnitOfWork(sessions), signal("smoke-1", 9, kind="cleared"), desk.clock
    )

    async with sessions() as session:

        async def alarm_ids(**kw: Any) -> list[str]:
            return [a.id for a in (await list_alarms(session, **kw)).items]

        assert await alarm_ids() == made[::-1]
        assert await alarm_ids(filters=AlarmFilters(building="B0")) == [made[4], made[2], made[0]]
        assert await alarm_ids(filters=AlarmFilters(acknowledged=True)) == [made[0]]
        assert await alarm_ids(filters=AlarmFilters(active=False)) == [made[1]]
        assert await alarm_ids(visible=ALARM.c.site == "north") == []
        first = await list_alarms(session, page=PageRequest(limit=2))
        second = await list_alarms(session, page=PageRequest(limit=2, cursor=first.next_cursor))
        assert [a.id for a in first.items + second.items] == made[::-1][:4]


async def test_open_order_counts_per_site_and_priority_leave_out_closed_and_cancelled(
    desk: Desk, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await desk.order(0, "demo/building/B1/stairwell", priority="P1")
    await desk.order(1, "demo/building/B2/lobby", priority="P3")
    await desk.order(2, "demo/building/B3/lobby", priority="P3")
    cancelled = await desk.order(3, "demo/building/B4/gate", priority="P2")
    await desk.order(4, "north/building/B1/gate", priority="P3", site="north")
    await desk.act(5, cmd.Cancel(cancelled, reason="duplicate of a phone call"), MANAGER)
    async with sessions() as session:
        every = await open_order_counts(session)
        demo_only = await open_order_counts(session, ["demo"])
    assert every == {("demo", "P1"): 1, ("demo", "P3"): 2, ("north", "P3"): 1}
    assert demo_only == {("demo", "P1"): 1, ("demo", "P3"): 2}
