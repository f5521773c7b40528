"""Accounts for the people the maintenance tests give orders to: an order goes only to
someone who can take it (:mod:`maintenance.domain.staff`), so a test that assigns one
first adds its assignee. No audit entry is written: tests count the orders' entries."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.users import NewUser, add_user_row
from estatewatch.clock import utc_now
from maintenance.db.uow import SqlUnitOfWork


async def add_technicians(
    sessions: async_sessionmaker[AsyncSession], *usernames: str, site: str = "demo"
) -> None:
    """Active technicians of ``site``."""
    async with SqlUnitOfWork(sessions) as uow:
        for username in usernames:
            new = NewUser(username=username, role="technician", sites=[site])
            await add_user_row(uow, new, at=utc_now())
        await uow.commit()
