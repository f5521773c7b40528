"""Maintenance plans and visit records in the database, and the unit of work's ``plans``
and ``visits`` repositories.

Tables (migration ``0013``):

- ``maintenance_plan``: one row per elevator (``asset`` is its key, ``site/elevator/id``):
  the plan year's anchor, the current interval and its reasons, the last completed visit
  and, per level, the date a visit last did that level's items;
- ``maintenance_plan_limits``: a site's on-demand limits (no row: 15 to 15 days, i.e.
  the statutory plan);
- ``maintenance_visit``: the record of a visit, keyed by its work order's id, with the
  checklist items copied when it was opened and the results as JSON.

The repositories write their rows straight into the unit's transaction (like the site
register), and a visit's or plan's domain events go to the audit trail in the same
transaction. A visit's row refers to its work order, so :meth:`SqlVisits.put` flushes
the unit's tracked orders first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.audit import append
from maintenance.db.mapping import WORK_ORDER, RowData
from maintenance.db.tables import Asset, Base, Building, Site, UtcDateTime
from maintenance.domain.audit import entry_from_event
from maintenance.domain.checklists import ChecklistItem, Level
from maintenance.domain.events import DomainEvent
from maintenance.domain.intervals import IntervalLimits
from maintenance.domain.plan_reasons import PlanReason
from maintenance.domain.plans import Plan, PlannedCar
from maintenance.domain.visits import ItemResult, ItemStatus, Visit
from maintenance.domain.workorders import TERMINAL

__all__ = [
    "PlanLimitsRow",
    "PlanRow",
    "SqlPlans",
    "SqlVisits",
    "VisitRow",
    "plan_from_row",
    "visit_from_row",
]


class PlanRow(Base):
    __tablename__ = "maintenance_plan"
    __table_args__ = (Index(None, "site"),)

    asset: Mapped[str] = mapped_column(String(300), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    anchor: Mapped[date] = mapped_column(Date)
    interval_days: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    """Each a ``{"code", "params"}`` (PlanReason), or an English sentence stored before."""
    last_visit_on: Mapped[date | None] = mapped_column(Date)
    last_done: Mapped[dict[str, str]] = mapped_column(JSON)
    """``{level: ISO date}``."""


class PlanLimitsRow(Base):
    __tablename__ = "maintenance_plan_limits"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    min_days: Mapped[int] = mapped_column(Integer)
    max_days: Mapped[int] = mapped_column(Integer)


class VisitRow(Base):
    __tablename__ = "maintenance_visit"
    __table_args__ = (Index(None, "asset", "due_on"),)

    order_id: Mapped[str] = mapped_column(ForeignKey("work_order.id"), primary_key=True)
    asset: Mapped[str] = mapped_column(String(300))
    site: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date] = mapped_column(Date)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    technicians: Mapped[list[str]] = mapped_column(JSON)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    defect_orders: Mapped[dict[str, str]] = mapped_column(JSON)
    signed_by: Mapped[str | None] = mapped_column(String(100))
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


_OPEN = WORK_ORDER.c.status.not_in([status.value for status in TERMINAL])
PLAN = cast(Any, PlanRow.__table__)
LIMITS = cast(Any, PlanLimitsRow.__table__)
VISIT = cast(Any, VisitRow.__table__)


def plan_from_row(row: RowData) -> Plan:
    return Plan(
        asset=row["asset"],
        site=row["site"],
        anchor=row["anchor"],
        interval_days=row["interval_days"],
        findings=tuple(PlanReason.from_json(value) for value in row["reasons"]),
        last_visit_on=row["last_visit_on"],
        last_done={cast(Level, k): date.fromisoformat(v) for k, v in row["last_done"].items()},
    )


def _plan_values(plan: Plan) -> dict[str, Any]:
    return {
        "asset": plan.asset,
        "site": plan.site,
        "anchor": plan.anchor,
        "interval_days": plan.interval_days,
        "reasons": [finding.to_json() for finding in plan.findings],
        "last_visit_on": plan.last_visit_on,
        "last_done": {level: on.isoformat() for level, on in plan.last_done.items()},
    }


def visit_from_row(row: RowData) -> Visit:
    return Visit(
        order_id=row["order_id"],
        asset=row["asset"],
        site=row["site"],
        level=cast(Level, row["level"]),
        due_on=row["due_on"],
        items=tuple(ChecklistItem.model_validate(item) for item in row["items"]),
        technicians=tuple(row["technicians"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        results=tuple(
            ItemResult(r["code"], cast(ItemStatus, r["status"]), r.get("note"), r.get("reading"))
            for r in row["results"]
        ),
        recorded_by=row["recorded_by"],
        defect_orders=dict(row["defect_orders"]),
        signed_by=row["signed_by"],
        signed_at=row["signed_at"],
    )


def _visit_values(visit: Visit) -> dict[str, Any]:
    return {
        "order_id": visit.order_id,
        "asset": visit.asset,
        "site": visit.site,
        "level": visit.level,
        "due_on": visit.due_on,
        "items": [item.model_dump(mode="json", exclude_none=True) for item in visit.items],
        "technicians": list(visit.technicians),
        "started_at": visit.started_at,
        "ended_at": visit.ended_at,
        "results": [
            {"code": r.code, "status": r.status, "note": r.note, "reading": r.reading}
            for r in visit.results
        ],
        "recorded_by": visit.recorded_by,
        "defect_orders": dict(visit.defect_orders),
        "signed_by": visit.signed_by,
        "signed_at": visit.signed_at,
    }


async def _upsert(session: AsyncSession, table: Any, key: str, values: dict[str, Any]) -> None:
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(table).values(values)
    changed = {name: statement.excluded[name] for name in values if name != key}
    await session.execute(statement.on_conflict_do_update(index_elements=[key], set_=changed))


async def _audit(session: AsyncSession, events: Iterable[DomainEvent]) -> None:
    for event in events:
        await append(session, entry_from_event(event))


class SqlPlans:
    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def cars(self) -> list[PlannedCar]:
        return await self._cars()

    async def car(self, asset: str) -> PlannedCar | None:
        site, kind, device_id = ([*asset.split("/", 2), "", ""])[:3]
        if kind != "elevator":
            return None
        found = await self._cars(Site.code == site, Asset.device_id == device_id)
        return found[0] if found else None

    async def _cars(self, *where: Any) -> list[PlannedCar]:
        query = (
            select(Site.code, Asset.device_id, Building.code.label("building"), Site.timezone)
            .join(Asset, Asset.site_id == Site.id)
            .join(Building, Building.id == Asset.building_id)
            .where(Asset.kind == "elevator", *where)
            .order_by(Site.code, Asset.device_id)
        )
        rows = (await self._session().execute(query)).all()
        return [PlannedCar(*row) for row in rows]

    async def get(self, asset: str) -> Plan | None:
        row = (await self._session().execute(select(PLAN).where(PLAN.c.asset == asset))).first()
        return None if row is None else plan_from_row(row._mapping)

    async def for_site(self, site: str) -> list[Plan]:
        query = select(PLAN).where(PLAN.c.site == site).order_by(PLAN.c.asset)
        rows = (await self._session().execute(query)).all()
        return [plan_from_row(row._mapping) for row in rows]

    async def put(self, plan: Plan, events: Iterable[DomainEvent] = ()) -> None:
        session = self._session()
        await _upsert(session, PLAN, "asset", _plan_values(plan))
        await _audit(session, events)

    async def limits(self, site: str) -> IntervalLimits:
        query = select(LIMITS).where(LIMITS.c.site == site)
        row = (await self._session().execute(query)).first()
        if row is None:
            return IntervalLimits()
        return IntervalLimits(min_days=row.min_days, max_days=row.max_days)

    async def set_limits(
        self, site: str, limits: IntervalLimits, events: Iterable[DomainEvent] = ()
    ) -> None:
        session = self._session()
        values = {"site": site, "min_days": limits.min_days, "max_days": limits.max_days}
        await _upsert(session, LIMITS, "site", values)
        await _audit(session, events)


class SqlVisits:
    def __init__(
        self, session: Callable[[], AsyncSession], flush: Callable[[], Awaitable[None]]
    ) -> None:
        self._session = session
        self._flush = flush

    async def get(self, order_id: str) -> Visit | None:
        query = select(VISIT).where(VISIT.c.order_id == order_id)
        row = (await self._session().execute(query)).first()
        return None if row is None else visit_from_row(row._mapping)

    async def pending_for(self, asset: str) -> Visit | None:
        query = (
            select(VISIT)
            .join(WORK_ORDER, WORK_ORDER.c.id == VISIT.c.order_id)
            .where(VISIT.c.asset == asset, VISIT.c.ended_at.is_(None), _OPEN)
        )
        row = (await self._session().execute(query)).first()
        return None if row is None else visit_from_row(row._mapping)

    async def put(self, visit: Visit) -> None:
        """Write the visit and audit its pending events (which it then no longer holds)."""
        await self._flush()  # its work order's row first
        session = self._session()
        await _upsert(session, VISIT, "order_id", _visit_values(visit))
        await _audit(session, visit.pull_events())
