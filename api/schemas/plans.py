"""Bodies of the maintenance-plan routes: plans, a site's on-demand limits, a visit's
record (in and out)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from maintenance.domain.checklists import Level
from maintenance.domain.visits import ItemResult, ItemStatus, Visit
from maintenance.services.plans import VisitReport

__all__ = ["PlanOut", "VisitIn", "VisitOut"]

Short = Annotated[str, Field(min_length=1, max_length=100)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanOut(BaseModel):
    """A car's plan: the current interval and why, the next visit and whether it is late
    (:class:`maintenance.db.read.plans.PlanView`, field for field)."""

    model_config = ConfigDict(from_attributes=True)

    asset: str
    site: str
    device_id: str
    interval_days: int
    reasons: list[str]
    last_visit_on: date | None
    next_due: date
    next_level: Level
    overdue: bool
    days_since_visit: int | None
    pending_visit: str | None


class ItemResultIn(_In):
    code: Annotated[str, Field(min_length=1, max_length=12)]
    status: ItemStatus
    note: Annotated[str, Field(max_length=500)] | None = None
    reading: float | None = None

    @field_validator("reading")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("a reading is a finite number")
        return value


class VisitIn(_In):
    """The technicians' record: who was there, when, and a result for every item."""

    technicians: Annotated[list[Short], Field(min_length=1, max_length=10)]
    started_at: AwareDatetime
    ended_at: AwareDatetime
    results: Annotated[list[ItemResultIn], Field(min_length=1, max_length=300)]

    def report(self) -> VisitReport:
        return VisitReport(
            technicians=self.technicians,
            started_at=self.started_at,
            ended_at=self.ended_at,
            results=[ItemResult(r.code, r.status, r.note, r.reading) for r in self.results],
        )


class VisitItemOut(BaseModel):
    code: str
    level: Level
    area: str
    title: str
    title_zh: str
    requirement: str
    unit: str | None
    """The reading's unit, for an item measured; then ``low`` and ``high`` its limits."""
    low: float | None
    high: float | None
    status: ItemStatus | None
    note: str | None
    reading: float | None
    repair_order: str | None


class VisitOut(BaseModel):
    order_id: str
    asset: str
    site: str
    level: Level
    due_on: date
    technicians: list[str]
    started_at: datetime | None
    ended_at: datetime | None
    recorded_by: str | None
    signed_by: str | None
    signed_at: datetime | None
    items: list[VisitItemOut]

    @classmethod
    def of(cls, visit: Visit) -> VisitOut:
        results = {r.code: r for r in visit.results}
        items = []
        for item in visit.items:
            result = results.get(item.name)
            items.append(
                VisitItemOut(
                    code=item.name,
                    level=item.level,
                    area=item.area,
                    title=item.title,
                    title_zh=item.title_zh,
                    requirement=item.requirement,
                    unit=item.reading.unit if item.reading else None,
                    low=item.reading.min if item.reading else None,
                    high=item.reading.max if item.reading else None,
                    status=result.status if result else None,
                    note=result.note if result else None,
                    reading=result.reading if result else None,
                    repair_order=visit.defect_orders.get(item.name),
                )
            )
        return cls(
            order_id=visit.order_id,
            asset=visit.asset,
            site=visit.site,
            level=visit.level,
            due_on=visit.due_on,
            technicians=list(visit.technicians),
            started_at=visit.started_at,
            ended_at=visit.ended_at,
            recorded_by=visit.recorded_by,
            signed_by=visit.signed_by,
            signed_at=visit.signed_at,
            items=items,
        )
