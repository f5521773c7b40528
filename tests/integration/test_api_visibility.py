"""Who sees which work order: the Python predicate and the SQL scope agree, on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.users import User
from api.visibility import can_see_order, order_scope
from maintenance import services
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.tables import WorkOrderRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor, Role
from maintenance.domain.errors import NotFound
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import WorkOrder

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MANAGER = Actor("mgr", "manager")
LI = Actor("li", "resident")
POLICY = SlaPolicy()


def at() -> datetime:
    return T0


def person(username: str, role: Role, sites: tuple[str, ...] = ()) -> User:
    return User(
        1, username, username, role, sites, None, "3-201" if role == "resident" else None, True
    )


# (id, site, assignee, requested_by)
ORDERS = [
    ("WO-1", "north", "wang", None),  # assigned to wang
    ("WO-2", "north", None, None),  # unassigned at wang's site
    ("WO-3", "south", None, "li"),  # unassigned elsewhere, li asked for it
    ("WO-4", "north", "zhao", "li"),  # someone else's, li asked for it
    ("WO-5", "south", "wang", "chen"),  # assigned to wang at a site not his
]

EXPECTED = {
    "wang": {"WO-1", "WO-2", "WO-5"},
    "li": {"WO-3", "WO-4"},
    "chen": {"WO-5"},
    "boss": {"WO-1", "WO-2", "WO-3", "WO-4", "WO-5"},
}
USERS = {
    "wang": person("wang", "technician", ("north",)),
    "li": person("li", "resident"),
    "chen": person("chen", "resident"),
    "boss": person("boss", "supervisor"),
}


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine: AsyncEngine = make_engine(db_url)
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    async with SqlUnitOfWork(sessions) as uow:
        for order_id, site, assignee, requested_by in ORDERS:
            order = WorkOrder.open(
                id=order_id,
                title="door sticks",
                asset=f"{site}/elevator/{order_id}",
                site=site,
                category="elevator",
                fault_kind="door",
                priority="P3",
                source="resident" if requested_by else "staff",
                now=T0,
                created_by=MANAGER,
                requested_by=requested_by,
            )
            if assignee:
                order.assign(MANAGER, T0, assignee=assignee)
            await uow.work_orders.add(order)
        await uow.commit()
    yield sessions
    await engine.dispose()


@pytest.mark.parametrize("username", sorted(EXPECTED))
async def test_predicate_and_sql_scope_show_the_same_orders(
    sessions: async_sessionmaker[AsyncSession], username: str
) -> None:
    user = USERS[username]
    query = select(WorkOrderRow.id)
    if (scope := order_scope(user)) is not None:
        query = query.where(scope)
    async with sessions() as session:
        by_sql = set(await session.scalars(query))
    async with SqlUnitOfWork(sessions) as uow:
        orders = [await uow.work_orders.get(order_id) for order_id, *_ in ORDERS]
    by_predicate = {o.id for o in orders if o is not None and can_see_order(user, o)}
    assert by_sql == by_predicate == EXPECTED[username]


async def test_someone_elses_order_is_not_found_exactly_like_a_missing_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    as_li = partial(can_see_order, USERS["li"])
    with pytest.raises(NotFound) as hidden:
        await services.perform(
            SqlUnitOfWork(sessions), cmd.Comment("WO-1", "mine?"), LI, at, POLICY, visible=as_li
        )
    with pytest.raises(NotFound) as missing:
        await services.perform(
            SqlUnitOfWork(sessions), cmd.Comment("WO-9", "mine?"), LI, at, POLICY, visible=as_li
        )
    assert str(hidden.value) == "no work order WO-1"
    assert str(missing.value) == "no work order WO-9"
    async with SqlUnitOfWork(sessions) as uow:
        order = await uow.work_orders.get("WO-1")
    assert order is not None
    assert order.notes == []  # refused before the change, in the same transaction
