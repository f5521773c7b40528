"""How far the webhook relay has got through the audit trail: one row, one audit id.

The relay (:mod:`maintenance.webhook_relay`) reads the audit entries after
:func:`load` and, once their webhooks are settled, moves the mark through a unit of
work's ``webhook_cursor`` repository (:meth:`SqlWebhookCursor.save`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import BigInteger, CheckConstraint, Integer, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.tables import Base

__all__ = ["SqlWebhookCursor", "WebhookCursorRow", "load", "store"]

_ONLY = 1


class WebhookCursorRow(Base):
    """``audit_id``: the newest audit entry whose webhooks are all settled."""

    __tablename__ = "webhook_cursor"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    audit_id: Mapped[int] = mapped_column(BigInteger)


async def load(session: AsyncSession) -> int | None:
    """The stored audit id; None before the relay's first start."""
    return await session.scalar(
        select(WebhookCursorRow.audit_id).where(WebhookCursorRow.id == _ONLY)
    )


async def store(session: AsyncSession, table: type[Base], audit_id: int) -> None:
    """Store ``audit_id`` as a relay's one-row mark (this table, or the notification
    relay's ``notification_cursor``): the row replaced in the unit's transaction."""
    await session.execute(delete(table))
    session.add(table(id=_ONLY, audit_id=audit_id))
    await session.flush()


class SqlWebhookCursor:
    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def save(self, audit_id: int) -> None:
        """Store ``audit_id`` in the unit's transaction."""
        await store(self._session(), WebhookCursorRow, audit_id)
