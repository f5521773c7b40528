"""The notifications of a work order and every attempt to send them, for whoever may
see the order (the caller's visibility clause on ``work_order``, as
:func:`~maintenance.db.read.photos.order_photos` takes it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.mapping import WORK_ORDER
from maintenance.db.notifications import NotificationAttemptRow, NotificationRow
from maintenance.db.read.pages import visible_clauses

__all__ = ["AttemptView", "NotificationView", "order_notifications"]


@dataclass(frozen=True, slots=True)
class AttemptView:
    at: datetime
    result: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: str
    kind: str
    channel: str
    recipient: str
    language: str
    count: int
    status: str
    created_at: datetime
    settled_at: datetime | None
    attempts: list[AttemptView]


async def order_notifications(
    session: AsyncSession, order_id: str, *, visible: ColumnElement[bool] | None = None
) -> list[NotificationView] | None:
    """Oldest first; None when the order is missing or not visible."""
    seen = select(WORK_ORDER.c.id).where(WORK_ORDER.c.id == order_id, *visible_clauses(visible))
    if await session.scalar(seen) is None:
        return None
    rows = (
        await session.scalars(
            select(NotificationRow)
            .where(NotificationRow.work_order_id == order_id)
            .order_by(NotificationRow.created_at, NotificationRow.id)
        )
    ).all()
    attempts: dict[str, list[AttemptView]] = {row.id: [] for row in rows}
    tries = await session.scalars(
        select(NotificationAttemptRow)
        .where(NotificationAttemptRow.notification_id.in_(attempts))
        .order_by(NotificationAttemptRow.at, NotificationAttemptRow.id)
    )
    for attempt in tries:
        attempts[attempt.notification_id].append(
            AttemptView(attempt.at, attempt.result, attempt.detail)
        )
    return [
        NotificationView(
            id=row.id,
            kind=row.kind,
            channel=row.channel,
            recipient=row.recipient,
            language=row.language,
            count=row.count,
            status=row.status,
            created_at=row.created_at,
            settled_at=row.settled_at,
            attempts=attempts[row.id],
        )
        for row in rows
    ]
