"""The audit trail in SQL: append an entry in the caller's transaction, verify the chain.

Append-only: this module offers no update or delete, and the migration installs triggers
that make the database refuse both. Call :func:`append` in the same session and
transaction as the change it records, so the change and its audit row commit together.

Concurrent writers: each entry chains to the newest one, so appends must be serialised.
On SQLite every transaction already holds the write lock from its first statement
(``BEGIN IMMEDIATE``, see :mod:`maintenance.db.engine`). On PostgreSQL :func:`append`
takes ``LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE`` (conflicts only with itself
and with writers, never with readers) until the transaction ends; ``SELECT ... FOR
UPDATE`` on the newest row would not do, since under READ COMMITTED a writer that waited
would still see the old newest row. A unit of work takes the lock as its transaction
begins (:func:`lock_trail_first`), before any row's. Whatever the database,
``prev_hash`` is unique, so a fork is refused by a constraint rather than stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Row, Select, bindparam, event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from maintenance.db.engine import Reads
from maintenance.db.tables import AuditRow
from maintenance.domain.audit import (
    GENESIS,
    AuditEntry,
    BrokenLink,
    ChainVerifier,
    SealedEntry,
    chain_hash,
)

__all__ = ["AuditReport", "append", "history", "lock_trail_first", "verify"]

_VERIFY_BATCH = 1000


_LOCK_TRAIL = "LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"


def lock_trail_first(session: AsyncSession) -> None:
    """Make each transaction of ``session`` begin by taking the trail's append lock
    (PostgreSQL; an SQLite transaction begins with the write lock already), held to its
    end. A writer that locked a row and then waited for the trail while another held the
    trail and waited for that row would deadlock; beginning with the trail, every writer
    locks in one order."""
    if session.get_bind().dialect.name == "postgresql":
        event.listen(session.sync_session, "after_begin", _lock_on_begin)


def _lock_on_begin(_session: Session, _transaction: SessionTransaction, conn: Connection) -> None:
    conn.exec_driver_sql(_LOCK_TRAIL)


async def append(session: AsyncSession, entry: AuditEntry) -> AuditRow:
    """Seal ``entry`` onto the newest entry and add it to the session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(_LOCK_TRAIL))
    newest = await session.scalar(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1))
    prev_hash = newest or GENESIS
    row = AuditRow(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        from_state=entry.from_state,
        to_state=entry.to_state,
        reason=entry.reason,
        detail=dict(entry.detail),
        prev_hash=prev_hash,
        hash=chain_hash(prev_hash, entry),
    )
    session.add(row)
    await session.flush()
    return row


def _entry(row: AuditRow | Row[Any]) -> AuditEntry:
    return AuditEntry(
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        from_state=row.from_state,
        to_state=row.to_state,
        reason=row.reason,
        detail=row.detail,
    )


_TRAIL = AuditRow.__table__.c
_HISTORY: Final[Select[Any]] = (
    select(
        _TRAIL.at,
        _TRAIL.actor,
        _TRAIL.action,
        _TRAIL.entity_type,
        _TRAIL.entity_id,
        _TRAIL.from_state,
        _TRAIL.to_state,
        _TRAIL.reason,
        _TRAIL.detail,
    )
    .where(_TRAIL.entity_type == bindparam("type"), _TRAIL.entity_id == bindparam("id"))
    .order_by(_TRAIL.id)
)
"""Built once, and of plain columns: building it and loading ORM rows cost an order's
detail (the API's hottest read) more than the query did."""


async def history(session: Reads, entity_type: str, entity_id: str) -> list[AuditEntry]:
    """Every entry about one entity, oldest first."""
    rows = await session.execute(_HISTORY, {"type": entity_type, "id": entity_id})
    return [_entry(row) for row in rows]


@dataclass(frozen=True, slots=True)
class AuditReport:
    """``entries`` checked (up to the broken one); ``head`` is the last intact hash."""

    entries: int
    head: str
    broken_row_id: int | None = None
    broken: BrokenLink | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None

    def __str__(self) -> str:
        if self.broken is None:
            return f"audit trail intact: {self.entries} entries, head {self.head}"
        what = "content altered" if self.broken.field == "hash" else "chain broken"
        return (
            f"audit trail broken at row id {self.broken_row_id} (entry {self.broken.index + 1}"
            f" of those checked): {what}: {self.broken.field} expected {self.broken.expected},"
            f" found {self.broken.found}"
        )


async def verify(session: AsyncSession) -> AuditReport:
    """Re-hash the whole trail in id order and report the first link that does not fit."""
    verifier = ChainVerifier()
    rows = await session.stream_scalars(
        select(AuditRow).order_by(AuditRow.id).execution_options(yield_per=_VERIFY_BATCH)
    )
    async for row in rows:
        broken = verifier.feed(SealedEntry(_entry(row), row.prev_hash, row.hash))
        if broken is not None:
            await rows.close()
            return AuditReport(verifier.count, verifier.head, row.id, broken)
    return AuditReport(verifier.count, verifier.head)
