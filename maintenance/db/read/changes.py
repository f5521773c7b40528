"""The change feed: audit entries after a given id, with the facts that decide who sees them.

The audit trail records every change in the transaction that makes it (see
:mod:`maintenance.db.audit`), and appends are serialised, so ids become visible in
commit order: a reader that remembers the newest id it has read misses nothing. The
live hub (:mod:`api.live`) tails it with :func:`changes_after`.

Each :class:`Change` carries the *current* site, assignee, requester and priority of the
work order or alarm it is about (one query per kind and batch, not per entry), so
visibility is judged on the record as it is now: an entry about an order that was
reassigned since is shown to the new assignee, not the old one. Entries about other
kinds (proposals, users, sites) carry no facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.tables import AlarmRow, AuditRow, WorkOrderRow

__all__ = ["Change", "Facts", "changes_after", "newest_change"]


@dataclass(frozen=True, slots=True)
class Facts:
    """Who a work order or alarm concerns (alarms have no assignee nor requester)."""

    site: str
    building: str | None = None
    priority: str | None = None
    assignee: str | None = None
    requested_by: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One audit entry; ``facts`` is None for a record that no longer exists or a kind
    that has none."""

    id: int
    at: datetime
    action: str
    entity_type: str
    entity_id: str
    to_state: str | None
    detail: dict[str, Any]
    facts: Facts | None


async def newest_change(session: AsyncSession) -> int:
    """The newest audit id (0 for an empty trail): a new reader starts after it."""
    return await session.scalar(select(func.max(AuditRow.id))) or 0


async def changes_after(session: AsyncSession, after: int, limit: int) -> list[Change]:
    """Up to ``limit`` entries with ids above ``after``, oldest first."""
    rows = list(
        await session.scalars(
            select(AuditRow).where(AuditRow.id > after).order_by(AuditRow.id).limit(limit)
        )
    )
    facts = await _order_facts(session, _ids(rows, "work_order"))
    facts |= await _alarm_facts(session, _ids(rows, "alarm"))
    return [
        Change(
            row.id,
            row.at,
            row.action,
            row.entity_type,
            row.entity_id,
            row.to_state,
            row.detail,
            facts.get((row.entity_type, row.entity_id)),
        )
        for row in rows
    ]


def _ids(rows: list[AuditRow], entity_type: str) -> set[str]:
    return {row.entity_id for row in rows if row.entity_type == entity_type}


async def _order_facts(session: AsyncSession, ids: set[str]) -> dict[tuple[str, str], Facts]:
    if not ids:
        return {}
    order = WorkOrderRow
    found = await session.execute(
        select(order.id, order.site, order.priority, order.assignee, order.requested_by).where(
            order.id.in_(ids)
        )
    )
    return {
        ("work_order", id_): Facts(site, None, priority, assignee, requested_by)
        for id_, site, priority, assignee, requested_by in found
    }


async def _alarm_facts(session: AsyncSession, ids: set[str]) -> dict[tuple[str, str], Facts]:
    if not ids:
        return {}
    found = await session.execute(
        select(AlarmRow.id, AlarmRow.site, AlarmRow.building, AlarmRow.priority).where(
            AlarmRow.id.in_(ids)
        )
    )
    return {
        ("alarm", id_): Facts(site, building, priority) for id_, site, building, priority in found
    }
