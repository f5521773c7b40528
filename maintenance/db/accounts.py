"""The API's users, bearer tokens and the web app's logins in the unit of work: its
``accounts`` repository.

The rows (:mod:`maintenance.db.user_tables`) are ORM objects in the unit's session, so
SQLAlchemy tracks what changes on them and the unit's commit writes it. Every change a
caller makes is recorded in the audit trail with :meth:`SqlAccounts.record`, in the same
transaction. Who may do what, and the messages, stay with the API (:mod:`api.users`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import cast

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.audit import append
from maintenance.db.user_tables import TokenRow, UserRow
from maintenance.db.web_tables import InviteRow, LoginFailureRow, WebSessionRow
from maintenance.domain.actors import Role
from maintenance.domain.audit import AuditEntry
from maintenance.domain.staff import Worker

__all__ = ["SqlAccounts"]


class SqlAccounts:
    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def user(self, username: str) -> UserRow | None:
        return await self._session().scalar(select(UserRow).where(UserRow.username == username))

    async def worker(self, username: str) -> Worker | None:
        """The port's read (:class:`maintenance.domain.ports.PeopleDirectory`)."""
        row = await self.user(username)
        if row is None:
            return None
        # The table's CHECK constraint holds the role to the six names.
        return Worker(row.username, cast("Role", row.role), row.active, frozenset(row.sites))

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

    async def set_locale(self, user_id: int, locale: str | None) -> None:
        await self._session().execute(
            update(UserRow).where(UserRow.id == user_id).values(locale=locale)
        )

    async def add_session(self, row: WebSessionRow) -> None:
        self._session().add(row)

    async def touch_session(self, session_id: int, now: datetime) -> None:
        """Mark a web session seen at ``now`` (bookkeeping, not audited)."""
        await self._session().execute(
            update(WebSessionRow).where(WebSessionRow.id == session_id).values(last_seen_at=now)
        )

    async def revoke_sessions(self, user_id: int, now: datetime, *, only: int | None = None) -> int:
        """End the user's live web sessions (``only``: just that one); how many ended."""
        query = update(WebSessionRow).where(
            WebSessionRow.user_id == user_id, WebSessionRow.revoked_at.is_(None)
        )
        if only is not None:
            query = query.where(WebSessionRow.id == only)
        result = await self._session().execute(query.values(revoked_at=now))
        return int(getattr(result, "rowcount", 0) or 0)

    async def prune_sessions(self, before: datetime) -> None:
        """Delete web sessions that expired or were revoked before ``before``."""
        await self._session().execute(
            delete(WebSessionRow).where(
                or_(WebSessionRow.expires_at < before, WebSessionRow.revoked_at < before)
            )
        )

    async def add_login_failure(self, username: str, address: str, at: datetime) -> None:
        self._session().add(LoginFailureRow(username=username, address=address, at=at))

    async def forget_login_failures(
        self, *, username: str | None = None, before: datetime | None = None
    ) -> None:
        """Drop a username's failures (after it logged in) or every one older than ``before``."""
        query = delete(LoginFailureRow)
        if username is not None:
            query = query.where(LoginFailureRow.username == username)
        if before is not None:
            query = query.where(LoginFailureRow.at < before)
        await self._session().execute(query)

    async def add_invite(self, row: InviteRow) -> None:
        """Insert at once, so the row has its id (the audit entry names it)."""
        session = self._session()
        session.add(row)
        await session.flush()

    async def invite(self, token_hash: str) -> InviteRow | None:
        return await self._session().scalar(
            select(InviteRow).where(InviteRow.token_hash == token_hash)
        )

    async def claim_invite(self, invite_id: int, at: datetime) -> bool:
        """Mark an invite used, unless it already was (then False: someone else did)."""
        result = await self._session().execute(
            update(InviteRow)
            .where(InviteRow.id == invite_id, InviteRow.used_at.is_(None))
            .values(used_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def record(self, entry: AuditEntry) -> None:
        await append(self._session(), entry)
