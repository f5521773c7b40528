"""The API's users and bearer tokens in the unit of work: its ``accounts`` repository.

The rows (:mod:`maintenance.db.user_tables`) are ORM objects in the unit's session, so
SQLAlchemy tracks what changes on them and the unit's commit writes it. Every change a
caller makes is recorded in the audit trail with :meth:`SqlAccounts.record`, in the same
transaction. Who may do what, and the messages, stay with the API (:mod:`api.users`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.audit import append
from maintenance.db.user_tables import TokenRow, UserRow
from maintenance.domain.audit import AuditEntry

__all__ = ["SqlAccounts"]


class SqlAccounts:
    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def user(self, username: str) -> UserRow | None:
        return await self._session().scalar(select(UserRow).where(UserRow.username == username))

    async def add_user(self, row: UserRow) -> None:
        """Insert at once, so a name taken meanwhile raises ``IntegrityError`` here."""
        session = self._session()
        session.add(row)
        await session.flush()

    async def token(self, token_id: int) -> tuple[TokenRow, str] | None:
        """The token and its owner's username."""
        found = (
            await self._session().execute(
                select(TokenRow, UserRow.username)
                .join(UserRow, UserRow.id == TokenRow.user_id)
                .where(TokenRow.id == token_id)
            )
        ).one_or_none()
        return None if found is None else (found[0], found[1])

    async def add_token(self, row: TokenRow) -> None:
        """Insert at once, so the row has its id (the audit entry names it)."""
        session = self._session()
        session.add(row)
        await session.flush()

    async def touch(self, token_id: int, now: datetime) -> None:
        """Mark a token used at ``now`` (not audited: it is bookkeeping, not a change)."""
        await self._session().execute(
            update(TokenRow).where(TokenRow.id == token_id).values(last_used_at=now)
        )

    async def record(self, entry: AuditEntry) -> None:
        await append(self._session(), entry)
