"""Read models for the API: work-order and alarm lists, and one order's detail.

SQLAlchemy Core selects over :mod:`maintenance.db.tables`, every value a bound parameter.
Nothing here writes; changes go through :mod:`maintenance.services`.

- :func:`list_work_orders`: filters (status, priority, site, building, asset, assignee,
  overdue), a whitelisted sort (created_at, priority, status, due; asc or desc) and keyset
  pagination: a page holds at most :data:`MAX_PAGE_SIZE` items and hands out an opaque
  cursor for the next one, so a deep page costs what the first one does.
- :func:`order_detail`: the order, its audit history and its SLA clocks.
- :func:`list_alarms`: alarms by site, building, device, severity, state.

**Visibility** is part of every query: the caller passes a WHERE clause saying what it may
see (``api.visibility.order_scope`` and ``alarm_scope`` own those rules), so a record the
caller may not see is simply not found, and pages count only visible rows.

**Due and overdue** are computed in SQL from the SLA policy given to the query, not
stored, so a changed policy applies at once. A clock still running (response until the
first acknowledgement, feedback until the first feedback, resolution until resolved) is
due at ``created_at + target(priority) + time on hold``; an open order is *overdue* when
one of its running clocks is past due, which is :meth:`SlaClocks.of`'s ``breached`` for the
clocks still running. The order's *due* time is the earliest of them (none when no clock
runs). Holds are rare, so their sum is a correlated subquery on the hold table's key. A
hold that began after a clock was already late moves the list's due time as well, where
:class:`SlaClocks` keeps the instant the target was reached; both agree on overdue.

**Building**: orders carry no building column. An order is in building ``B`` of site
``S`` when an alarm linked to it came from ``B``, or when its asset key names it
(``S/building/B/...``, the form resident requests use).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Float,
    Index,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from maintenance.db.audit import history
from maintenance.db.mapping import ALARM, ITEM_LISTS, WORK_ORDER, RowData, order_from_rows
from maintenance.db.tables import UtcDateTime, WorkOrderHoldRow
from maintenance.domain.audit import AuditEntry
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.signals import Priority, Severity
from maintenance.domain.sla import ClockName, SlaClocks, SlaPolicy
from maintenance.domain.workorders import TERMINAL, Status, WorkOrder

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "READ_INDEXES",
    "AlarmFilters",
    "AlarmSummary",
    "Page",
    "PageRequest",
    "SortKey",
    "WorkOrderDetail",
    "WorkOrderFilters",
    "WorkOrderSort",
    "WorkOrderSummary",
    "list_alarms",
    "list_work_orders",
    "order_detail",
]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 200

T = TypeVar("T")
WO = WORK_ORDER.c
HOLD = WorkOrderHoldRow.__table__.c

# The indexes these queries rely on, with the tie-breaking id so an index serves the whole
# ORDER BY of a keyset page. Revision 0004 creates them and imports this module, so the
# metadata that migrations are compared with has them too (as api.db_tables does).
READ_INDEXES: Final = (
    Index("ix_work_order_created_at_id", WO.created_at, WO.id),
    Index("ix_work_order_site_created_at_id", WO.site, WO.created_at, WO.id),
    Index("ix_work_order_status_created_at_id", WO.status, WO.created_at, WO.id),
    Index("ix_work_order_assignee_created_at_id", WO.assignee, WO.created_at, WO.id),
    Index("ix_work_order_requested_by_created_at_id", WO.requested_by, WO.created_at, WO.id),
    Index("ix_work_order_priority_id", WO.priority, WO.id),
    Index("ix_alarm_raised_at_id", ALARM.c.raised_at, ALARM.c.id),
    Index("ix_alarm_site_raised_at_id", ALARM.c.site, ALARM.c.raised_at, ALARM.c.id),
)

# "No clock running" sorts after every real due time (epoch seconds).
_NEVER: Final = 1e12
_OPEN_STATUSES: Final = tuple(s.value for s in Status if s not in TERMINAL)


# -- requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRequest:
    """``limit`` items after ``cursor`` (as handed out by the previous page)."""

    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"page size {self.limit!r} refused: give 1 to {MAX_PAGE_SIZE}")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    """None on the last page."""
    limit: int


@dataclass(frozen=True, slots=True)
class WorkOrderFilters:
    """All given filters must hold; a set matches any of its members."""

    status: frozenset[Status] = frozenset()
    priority: frozenset[Priority] = frozenset()
    site: str | None = None
    building: str | None = None
    asset: str | None = None
    assignee: str | None = None
    overdue: bool | None = None


class SortKey(StrEnum):
    CREATED_AT = "created_at"
    PRIORITY = "priority"
    STATUS = "status"
    DUE = "due"


@dataclass(frozen=True, slots=True)
class WorkOrderSort:
    key: SortKey = SortKey.CREATED_AT
    descending: bool = True

    @classmethod
    def parse(cls, text: str) -> WorkOrderSort:
        """``"created_at"`` (ascending) or ``"-created_at"`` (descending)."""
        name = text.removeprefix("-")
        try:
            key = SortKey(name)
        except ValueError:
            known = ", ".join(k.value for k in SortKey)
            raise InvalidRequest(f"cannot sort by {name!r}; sort by one of: {known}") from None
        return cls(key, descending=text.startswith("-"))


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


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkOrderSummary:
    id: str
    title: str
    site: str
    asset: str
    location: str | None
    category: str
    priority: Priority
    status: Status
    source: str
    assignee: str | None
    requested_by: str | None
    created_at: datetime
    due_at: datetime | None
    """When the earliest running SLA clock is due; None when none runs."""
    overdue: bool


@dataclass(frozen=True, slots=True)
class WorkOrderDetail:
    order: WorkOrder
    clocks: SlaClocks
    history: list[AuditEntry] = field(default_factory=list)


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


# -- SQL building blocks ---------------------------------------------------------------------


class _Epoch(FunctionElement[float]):
    """Seconds since 1970 of a stored UTC time (naive in the database)."""

    type = Float()
    inherit_cache = True


@compiles(_Epoch, "sqlite")
def _epoch_sqlite(element: _Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(_Epoch)
def _epoch_default(element: _Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


class _Least(FunctionElement[float]):
    """The smallest argument (no argument may be NULL: SQLite's min() would be NULL)."""

    type = Float()
    inherit_cache = True


@compiles(_Least, "sqlite")
def _least_sqlite(element: _Least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(_Least)
def _least_default(element: _Least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LEAST({compiler.process(element.clauses, **kw)})"


_STOPS: Final[Mapping[ClockName, ColumnElement[Any]]] = {
    "response": WO.acknowledged_at,
    "feedback": WO.first_feedback_at,
    "resolution": WO.resolved_at,
}


_NOW = "due_now"


@functools.lru_cache(maxsize=16)
def _due_epoch(policy: SlaPolicy) -> ColumnElement[float]:
    """Epoch seconds when the order's earliest running clock is due, or :data:`_NEVER`.

    Built once per policy (building it costs more than running it); the time the holds
    run to is the bound parameter ``due_now``.
    """
    now_param = bindparam(_NOW, type_=UtcDateTime())
    held = (
        select(
            func.coalesce(
                func.sum(_Epoch(func.coalesce(HOLD.ended_at, now_param)) - _Epoch(HOLD.started_at)),
                0.0,
            )
        )
        .where(HOLD.order_id == WO.id)
        .scalar_subquery()
    )
    priorities: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")
    targets = [
        case(
            (
                stop.is_(None),
                case(
                    {p: policy.for_priority(p).for_clock(name).total_seconds() for p in priorities},
                    value=WO.priority,
                    else_=_NEVER,
                ),
            ),
            else_=_NEVER,
        )
        for name, stop in _STOPS.items()
    ]
    earliest = _Least(*targets)
    is_open = WO.status.in_(_OPEN_STATUSES)
    return case(
        (and_(is_open, earliest < _NEVER), _Epoch(WO.created_at) + earliest + held),
        else_=_NEVER,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in_building(site: str | None, building: str) -> ColumnElement[bool]:
    alarm_here = [ALARM.c.work_order_id == WO.id, ALARM.c.building == building]
    if site is not None:
        alarm_here.append(ALARM.c.site == site)
    prefix = f"{_escape_like(site)}/" if site is not None else "%/"
    named = WO.asset.like(f"{prefix}building/{_escape_like(building)}/%", escape="\\")
    return or_(exists().where(*alarm_here), named)


def _visible(clause: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    return [] if clause is None else [clause]


def _filter_clauses(
    filters: WorkOrderFilters, due: ColumnElement[float], now_epoch: float
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.status:
        clauses.append(WO.status.in_(sorted(s.value for s in filters.status)))
    if filters.priority:
        clauses.append(WO.priority.in_(sorted(filters.priority)))
    if filters.site is not None:
        clauses.append(WO.site == filters.site)
    if filters.building is not None:
        clauses.append(_in_building(filters.site, filters.building))
    if filters.asset is not None:
        clauses.append(WO.asset == filters.asset)
    if filters.assignee is not None:
        clauses.append(WO.assignee == filters.assignee)
    if filters.overdue:
        # Only open orders have a due time; saying so lets the status index narrow first.
        clauses += [WO.status.in_(_OPEN_STATUSES), due < now_epoch]
    elif filters.overdue is False:
        clauses.append(due >= now_epoch)
    return clauses


_STATUS_ORDER: Final = {s.value: i for i, s in enumerate(Status)}


def _sort_column(key: SortKey, due: ColumnElement[float]) -> ColumnElement[Any]:
    match key:
        case SortKey.CREATED_AT:
            return WO.created_at
        case SortKey.PRIORITY:
            return WO.priority
        case SortKey.STATUS:
            return case(_STATUS_ORDER, value=WO.status, else_=len(_STATUS_ORDER))
        case SortKey.DUE:
            return due


# -- cursors -------------------------------------------------------------------------------


def _encode_cursor(tag: str, value: Any, last_id: str) -> str:
    raw = json.dumps([tag, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, tag: str, parse: Callable[[Any], Any]) -> tuple[Any, str]:
    """The (sort value, id) a cursor carries; refuses one made for another list or sort."""
    refused = InvalidRequest(
        f"cursor {cursor[:40]!r} refused: it is not one this list handed out for this sort;"
        " start again without a cursor"
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found_tag, value, last_id = json.loads(raw)
        if found_tag != tag or not isinstance(last_id, str):
            raise refused
        return parse(value), last_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise refused from exc


def _after(
    column: ColumnElement[Any], id_column: ColumnElement[str], value: Any, last_id: str, desc: bool
) -> ColumnElement[bool]:
    if desc:
        return or_(column < value, and_(column == value, id_column < last_id))
    return or_(column > value, and_(column == value, id_column > last_id))


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("a time is ISO text")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a cursor time has a zone")
    return parsed


def _parse_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a number")
    return float(value)


def _parse_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("text")
    return value


_CURSOR_VALUE: Final[Mapping[SortKey, tuple[Callable[[Any], Any], Callable[[Any], Any]]]] = {
    # key: (parse from JSON, dump to JSON)
    SortKey.CREATED_AT: (_parse_time, lambda v: v.isoformat()),
    SortKey.PRIORITY: (_parse_text, str),
    SortKey.STATUS: (_parse_number, int),
    SortKey.DUE: (_parse_number, float),
}


def _next_cursor(
    tag: str, rows: Sequence[RowData], limit: int, dump: Callable[[Any], Any]
) -> str | None:
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return _encode_cursor(tag, dump(last["sort_value"]), last["id"])


# -- work orders ---------------------------------------------------------------------------


async def list_work_orders(
    session: AsyncSession,
    *,
    policy: SlaPolicy,
    now: datetime,
    filters: WorkOrderFilters = WorkOrderFilters(),
    sort: WorkOrderSort = WorkOrderSort(),
    page: PageRequest = PageRequest(),
    visible: ColumnElement[bool] | None = None,
) -> Page[WorkOrderSummary]:
    """One page of the orders ``visible`` selects that match ``filters``, in ``sort`` order
    (ties broken by id). ``now`` (from the injected clock) decides what is overdue."""
    due = _due_epoch(policy)
    now_epoch = now.timestamp()
    sort_value = _sort_column(sort.key, due)
    tag = f"wo:{sort.key.value}:{'d' if sort.descending else 'a'}"
    parse, dump = _CURSOR_VALUE[sort.key]
    where = [*_visible(visible), *_filter_clauses(filters, due, now_epoch)]
    if page.cursor is not None:
        value, last_id = _decode_cursor(page.cursor, tag, parse)
        where.append(_after(sort_value, WO.id, value, last_id, sort.descending))
    order = (sort_value.desc(), WO.id.desc()) if sort.descending else (sort_value, WO.id)
    query: Select[Any] = (
        select(
            WO.id,
            WO.title,
            WO.site,
            WO.asset,
            WO.location,
            WO.category,
            WO.priority,
            WO.status,
            WO.source,
            WO.assignee,
            WO.requested_by,
            WO.created_at,
            due.label("due"),
            sort_value.label("sort_value"),
        )
        .where(*where)
        .order_by(*order)
        .limit(page.limit + 1)
    )
    rows = list((await session.execute(query, {_NOW: now})).mappings())
    items = [_summary(row, now_epoch) for row in rows[: page.limit]]
    return Page(items, _next_cursor(tag, rows, page.limit, dump), page.limit)


def _summary(row: RowData, now_epoch: float) -> WorkOrderSummary:
    due = float(row["due"])
    running = due < _NEVER
    return WorkOrderSummary(
        id=row["id"],
        title=row["title"],
        site=row["site"],
        asset=row["asset"],
        location=row["location"],
        category=row["category"],
        priority=row["priority"],
        status=Status(row["status"]),
        source=row["source"],
        assignee=row["assignee"],
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        # Rounded to the millisecond: julianday() carries about 50 us of float noise.
        due_at=datetime.fromtimestamp(round(due, 3), UTC) if running else None,
        overdue=running and due < now_epoch,
    )


async def order_detail(
    session: AsyncSession,
    order_id: str,
    *,
    policy: SlaPolicy,
    now: datetime,
    visible: ColumnElement[bool] | None = None,
) -> WorkOrderDetail | None:
    """The order with its history and SLA clocks; None if it does not exist *or*
    ``visible`` leaves it out, so the caller cannot tell the two apart."""
    row = (
        (await session.execute(select(WORK_ORDER).where(WO.id == order_id, *_visible(visible))))
        .mappings()
        .first()
    )
    if row is None:
        return None
    items = {}
    for spec in ITEM_LISTS:
        query = select(spec.table).where(spec.table.c.order_id == order_id)
        items[spec.table] = list(
            (await session.execute(query.order_by(spec.table.c.position))).mappings()
        )
    order = order_from_rows(row, items)
    trail = await history(session, "work_order", order_id)
    return WorkOrderDetail(order, SlaClocks.of(order, policy, now), trail)


# -- alarms --------------------------------------------------------------------------------

AL = ALARM.c


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
    page: PageRequest = PageRequest(),
    visible: ColumnElement[bool] | None = None,
) -> Page[AlarmSummary]:
    """Alarms ``visible`` selects that match ``filters``, newest raised first."""
    tag = "alarm:raised_at:d"
    where = [*_visible(visible), *_alarm_clauses(filters)]
    if page.cursor is not None:
        value, last_id = _decode_cursor(page.cursor, tag, _parse_time)
        where.append(_after(AL.raised_at, AL.id, value, last_id, desc=True))
    query = (
        select(ALARM, AL.raised_at.label("sort_value"))
        .where(*where)
        .order_by(AL.raised_at.desc(), AL.id.desc())
        .limit(page.limit + 1)
    )
    rows = list((await session.execute(query)).mappings())
    items = [_alarm_summary(row) for row in rows[: page.limit]]
    return Page(items, _next_cursor(tag, rows, page.limit, lambda v: v.isoformat()), page.limit)


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
    )
