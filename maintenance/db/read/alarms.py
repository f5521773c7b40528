"""The alarm read model: alarms by site, building, device, severity, state, newest raised
first, in keyset pages (:mod:`maintenance.db.read.pages`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.mapping import ALARM, RowData
from maintenance.db.read.cursor import decode_cursor, parse_time
from maintenance.db.read.pages import (
    FIRST_PAGE,
    Page,
    PageRequest,
    after,
    next_cursor,
    visible_clauses,
)
from maintenance.domain.signals import Priority, Severity

__all__ = ["AlarmFilters", "AlarmSummary", "list_alarms"]

AL = ALARM.c


@dataclass(frozen=True, slots=True)
class AlarmFilters:
    site: str | None = None
    building: str | None = None
    device_type: str | None = None
    device_id: str | None = None
    severity: frozenset[Severity] = frozenset()
    active: bool | None = None
    acknowledged: bool | None = None
    work_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmSummary:
    id: str
    rule: str
    site: str
    device_type: str
    device_id: str
    building: str | None
    severity: Severity
    priority: Priority | None
    fault_kind: str
    message: str
    raised_at: datetime
    last_seen: datetime
    count: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    cleared_at: datetime | None
    work_order_id: str | None
    gbt24476_code: str | None = None


def _alarm_clauses(filters: AlarmFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for column, value in (
        (AL.site, filters.site),
        (AL.building, filters.building),
        (AL.device_type, filters.device_type),
        (AL.device_id, filters.device_id),
        (AL.work_order_id, filters.work_order_id),
    ):
        if value is not None:
            clauses.append(column == value)
    if filters.severity:
        clauses.append(AL.severity.in_(sorted(filters.severity)))
    if filters.active is not None:
        clauses.append(AL.cleared_at.is_(None) if filters.active else AL.cleared_at.is_not(None))
    if filters.acknowledged is not None:
        ack = AL.acknowledged_at.is_not(None)
        clauses.append(ack if filters.acknowledged else ~ack)
    return clauses


async def list_alarms(
    session: AsyncSession,
    *,
    filters: AlarmFilters = AlarmFilters(),
    page: PageRequest = FIRST_PAGE,
    visible: ColumnElement[bool] | None = None,
) -> Page[AlarmSummary]:
    """Alarms ``visible`` selects that match ``filters``, newest raised first."""
    tag = "alarm:raised_at:d"
    where = [*visible_clauses(visible), *_alarm_clauses(filters)]
    if page.cursor is not None:
        value, last_id = decode_cursor(page.cursor, tag, parse_time)
        where.append(after(AL.raised_at, AL.id, value, last_id, desc=True))
    query = (
        select(ALARM, AL.raised_at.label("sort_value"))
        .where(*where)
        .order_by(AL.raised_at.desc(), AL.id.desc())
        .limit(page.limit + 1)
    )
    rows = list((await session.execute(query)).mappings())
    items = [_alarm_summary(row) for row in rows[: page.limit]]
    return Page(items, next_cursor(tag, rows, page.limit, lambda v: v.isoformat()), page.limit)


def _alarm_summary(row: RowData) -> AlarmSummary:
    return AlarmSummary(
        id=row["id"],
        rule=row["rule"],
        site=row["site"],
        device_type=row["device_type"],
        device_id=row["device_id"],
        building=row["building"],
        severity=row["severity"],
        priority=row["priority"],
        fault_kind=row["fault_kind"],
        message=row["message"],
        raised_at=row["raised_at"],
        last_seen=row["last_seen"],
        count=row["count"],
        acknowledged_by=row["acknowledged_by_user"],
        acknowledged_at=row["acknowledged_at"],
        cleared_at=row["cleared_at"],
        work_order_id=row["work_order_id"],
        gbt24476_code=row["code"],
    )
