"""Login throttling: after 5 refused passwords in 15 minutes for a username, or from a
client address, that username (or address) may not try again until the oldest of those
five is 15 minutes old. The failures are rows (``login_failure``), so the limit holds
across restarts and across API processes; a successful login clears its username's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.uow import SqlUnitOfWork
from maintenance.db.web_tables import LoginFailureRow

__all__ = ["LIMIT", "WINDOW", "blocked_until", "record_failure"]

LIMIT: Final = 5
WINDOW: Final = timedelta(minutes=15)
_KEEP: Final = timedelta(days=1)  # older failures are deleted as new ones come


async def blocked_until(
    session: AsyncSession, username: str, address: str, now: datetime
) -> datetime | None:
    """When the next try is allowed, or None when it is allowed now."""
    until: datetime | None = None
    for column, value in ((LoginFailureRow.username, username), (LoginFailureRow.address, address)):
        times = list(
            await session.scalars(
                select(LoginFailureRow.at)
                .where(column == value, LoginFailureRow.at > now - WINDOW)
                .order_by(LoginFailureRow.at.desc())
                .limit(LIMIT)
            )
        )
        if len(times) >= LIMIT:
            free_at = min(times) + WINDOW
            until = free_at if until is None else max(until, free_at)
    return until


async def record_failure(uow: SqlUnitOfWork, username: str, address: str, now: datetime) -> None:
    async with uow:
        await uow.accounts.add_login_failure(username, address, now)
        await uow.accounts.forget_login_failures(before=now - _KEEP)
        await uow.commit()
