"""Notifications as rows: the outbox the notification relay sends from, every attempt,
and how far the relay has read the audit trail.

``notification``: one message for one recipient on one channel, with a stable ``id``
(``{audit id}:{site}/{channel}:{recipient}``; a pre-breach warning, made from a due time
rather than an entry, has audit id 0 and ``due:{order}@{due time}`` in place of it, a
daily digest audit id 0 and ``digest:{site}@{date}``), the order it is about (none for
a proposal or a digest, revision 0019),
the order's facts the message is rendered from at each attempt, ``count`` (repeats
folded into it), ``status`` (``pending``, ``sent``, ``failed``), ``attempts`` and
``next_attempt_at``. ``notification_attempt``:
each try (when, channel, recipient, ``result``: ``delivered``, ``retrying``, ``refused``,
``gave_up``, and the reason). ``notification_cursor``: one row, the newest audit entry
turned into notifications. Migration ``0016`` creates them; the relay
(:mod:`maintenance.notification_relay`) writes them through a unit of work's
``notifications`` repository (:class:`SqlNotifications`), and the order's JSON API reads
them (:func:`maintenance.db.read.notifications.order_notifications`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.tables import OPEN_ORDER, AuditRow, Base, Site, UtcDateTime, WorkOrderRow
from maintenance.db.user_tables import UserRow
from maintenance.db.webhook_cursor import store
from maintenance.domain.preferences import Preferences

__all__ = [
    "NotificationAttemptRow",
    "NotificationCursorRow",
    "NotificationRow",
    "SqlNotifications",
]

_ONLY = 1
DEFAULT_ZONE = "Asia/Shanghai"  # the site table's default
STATUS_CHECK = "status IN ('pending', 'sent', 'failed')"
RESULT_CHECK = "result IN ('delivered', 'retrying', 'refused', 'gave_up')"


class NotificationRow(Base):
    __tablename__ = "notification"
    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "site", "channel", "recipient", "fold_key", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    audit_id: Mapped[int] = mapped_column(BigInteger)
    work_order_id: Mapped[str | None] = mapped_column(ForeignKey("work_order.id"), index=True)
    """None for a notice about no order (a proposal, a digest; revision 0019)."""
    site: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(100))
    """A user id, or the robot group's name."""
    address: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(32))
    fold_key: Mapped[str] = mapped_column(String(400))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    link: Mapped[str] = mapped_column(String(500))
    count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class NotificationAttemptRow(Base):
    __tablename__ = "notification_attempt"
    __table_args__ = (CheckConstraint(RESULT_CHECK, name="result"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notification.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


class NotificationCursorRow(Base):
    """``audit_id``: the newest audit entry already turned into notifications."""

    __tablename__ = "notification_cursor"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    audit_id: Mapped[int] = mapped_column(BigInteger)


class SqlNotifications:
    """The relay's reads and writes, in the unit of work's transaction."""

    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def cursor(self) -> int | None:
        """The stored audit id; None before the relay's first start."""
        return await self._session().scalar(
            select(NotificationCursorRow.audit_id).where(NotificationCursorRow.id == _ONLY)
        )

    async def newest_audit_id(self) -> int:
        return await self._session().scalar(select(func.max(AuditRow.id))) or 0

    async def save_cursor(self, audit_id: int) -> None:
        await store(self._session(), NotificationCursorRow, audit_id)

    async def entries_after(self, audit_id: int, limit: int) -> Sequence[AuditRow]:
        return (
            await self._session().scalars(
                select(AuditRow).where(AuditRow.id > audit_id).order_by(AuditRow.id).limit(limit)
            )
        ).all()

    async def order(self, order_id: str) -> tuple[WorkOrderRow, str] | None:
        """The order and its site's time zone (Shanghai's for a site not imported)."""
        row = (
            await self._session().execute(
                select(WorkOrderRow, func.coalesce(Site.timezone, DEFAULT_ZONE))
                .outerjoin(Site, Site.code == WorkOrderRow.site)
                .where(WorkOrderRow.id == order_id)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def due_between(
        self, start: datetime, end: datetime, sites: Sequence[str]
    ) -> Sequence[WorkOrderRow]:
        """Open orders at ``sites`` whose stored due time falls in ``(start, end]``."""
        return (
            await self._session().scalars(
                select(WorkOrderRow).where(
                    WorkOrderRow.due_at > start,
                    WorkOrderRow.due_at <= end,
                    WorkOrderRow.site.in_(sites),
                    OPEN_ORDER,
                )
            )
        ).all()

    async def people(self, site: str, role: str = "manager") -> list[str]:
        """The active users of ``role`` at ``site`` (by user id; one with no sites, such as
        a committee member, belongs to every site)."""
        rows = await self._session().scalars(
            select(UserRow).where(UserRow.role == role, UserRow.active.is_(True))
        )
        return [row.username for row in rows if not row.sites or site in row.sites]

    async def preferences(self, users: Sequence[str]) -> dict[str, Preferences]:
        """Each known user's own notification settings (address, channels, quiet hours,
        language)."""
        rows = await self._session().scalars(select(UserRow).where(UserRow.username.in_(users)))
        return {row.username: row.preferences for row in rows}

    async def latest(
        self, site: str, channel: str, recipient: str, fold_key: str
    ) -> NotificationRow | None:
        """The newest notification with this fold key for this recipient on this channel."""
        return await self._session().scalar(
            select(NotificationRow)
            .where(
                NotificationRow.site == site,
                NotificationRow.channel == channel,
                NotificationRow.recipient == recipient,
                NotificationRow.fold_key == fold_key,
            )
            .order_by(NotificationRow.created_at.desc(), NotificationRow.id.desc())
            .limit(1)
        )

    async def planned(self, site: str, fold_key: str) -> bool:
        """Whether any notification with this fold key was planned at ``site``."""
        found = await self._session().scalar(
            select(NotificationRow.id)
            .where(NotificationRow.site == site, NotificationRow.fold_key == fold_key)
            .limit(1)
        )
        return found is not None

    async def add(self, row: NotificationRow) -> None:
        session = self._session()
        if await session.get(NotificationRow, row.id) is None:  # the same entry read twice
            session.add(row)
            await session.flush()

    async def due(self, now: datetime, limit: int) -> Sequence[NotificationRow]:
        return (
            await self._session().scalars(
                select(NotificationRow)
                .where(NotificationRow.status == "pending", NotificationRow.next_attempt_at <= now)
                # In the trail's order: ids are text ("100:..." sorts before "99:...").
                .order_by(
                    NotificationRow.next_attempt_at, NotificationRow.audit_id, NotificationRow.id
                )
                .limit(limit)
            )
        ).all()

    async def get(self, notification_id: str) -> NotificationRow | None:
        return await self._session().get(NotificationRow, notification_id)

    async def record(self, attempt: NotificationAttemptRow) -> None:
        session = self._session()
        session.add(attempt)
        await session.flush()
