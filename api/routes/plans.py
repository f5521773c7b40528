"""Maintenance plans and visits (TSG T5002): ``/maintenance/plans`` and ``/maintenance/visits``.

- ``GET /maintenance/plans`` (staff, the committee, supervisors): each car's current
  interval and why, its last visit, its next visit's date and level, whether it is
  overdue, and the open visit's work order. Technicians see their sites' cars.
- ``PUT /maintenance/plans/limits/{site}`` (admins, managers): the site's on-demand
  limits (``{"min_days": 15, "max_days": 30}``; 15 to 15, the default, keeps every car
  on the statutory 15 days); its plans are brought within them at once.
- ``GET /maintenance/visits/{order_id}``: a visit's record, item by item.
- ``POST /maintenance/visits/{order_id}/record`` (technicians, managers, admins): the
  technicians' record (:class:`~api.schemas.plans.VisitIn`). The car's health since its
  last visit (:func:`maintenance.db.read.plans.car_health`, with trips and the door-time
  drift from InfluxDB when it answers; when it does not, the car is not known to be
  monitored) sets the next interval when the site allows on-demand intervals.
- ``POST /maintenance/visits/{order_id}/sign`` (managers): the property's elevator safety
  manager signs the recorded visit.

Photos of a visit are its work order's (``POST /work-orders/{id}/photos``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import AppServices, Clock, CurrentUser, ReadSession, Session, Sla, Uow
from api.policy import allow
from api.routes.assets import visible_asset, with_telemetry
from api.routes.work_orders import OrderId, release
from api.schemas.plans import PlanOut, VisitIn, VisitOut
from api.visibility import can_see_order, can_see_site
from estatewatch.influx.query import InfluxReader
from maintenance.db.read.plans import car_health, plan_of, plan_rows, visit_record
from maintenance.db.read.sites import get_site
from maintenance.domain.errors import NotFound
from maintenance.domain.intervals import CarHealth, IntervalLimits
from maintenance.domain.plans import STATUTORY_INTERVAL_DAYS
from maintenance.domain.visits import Visit
from maintenance.services import plans as plan_services

__all__ = ["router", "visible_visit", "visit_health"]

router = APIRouter(prefix="/maintenance", tags=["maintenance plans"])

_READERS = allow("admin", "manager", "technician", "committee", "supervisor")
_SETTERS = allow("admin", "manager")
_RECORDERS = allow("admin", "manager", "technician")
_SIGNERS = allow("manager")

SiteCode = Annotated[str, Path(max_length=64)]


@router.get("/plans", dependencies=[_READERS])
async def list_plans(
    me: CurrentUser,
    session: ReadSession,
    clock: Clock,
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> list[PlanOut]:
    views = await plan_rows(session, clock(), sites=None if site is None else [site])
    await release(session)
    return [PlanOut.model_validate(v) for v in views if can_see_site(me.user, v.site)]


@router.put("/plans/limits/{site}", dependencies=[_SETTERS])
async def set_limits(
    site: SiteCode, body: IntervalLimits, me: CurrentUser, uow: Uow, session: Session, clock: Clock
) -> list[PlanOut]:
    await get_site(session, site)  # NotFound (404) for a site that is not registered
    await release(session)
    await plan_services.set_limits(uow, site, body, me.actor, clock)
    return await list_plans(me, session, clock, site)


async def visible_visit(session: ReadSession, order_id: str, me: CurrentUser) -> Visit:
    visit = await visit_record(session, order_id)
    if visit is None or not can_see_site(me.user, visit.site):
        raise NotFound(f"no maintenance visit {order_id}")
    return visit


@router.get("/visits/{order_id}", dependencies=[_READERS])
async def get_visit(order_id: OrderId, me: CurrentUser, session: ReadSession) -> VisitOut:
    visit = await visible_visit(session, order_id, me)
    await release(session)
    return VisitOut.of(visit)


async def visit_health(
    session: ReadSession, me: CurrentUser, visit: Visit, now: datetime, reader: InfluxReader | None
) -> CarHealth:
    """The car's health since its last visit (or the statutory interval back)."""
    site, _, device_id = visit.asset.split("/", 2)
    asset = await visible_asset(session, me.user, device_id, site)
    plan = await plan_of(session, visit.asset)
    last = plan.last_visit_on if plan else None
    since = (
        datetime.combine(last, time(), tzinfo=UTC)
        if last
        else now - timedelta(days=STATUTORY_INTERVAL_DAYS)
    )

    async def run(source: InfluxReader | None) -> CarHealth:
        return await car_health(session, asset, since, now, reader=source)

    health, _ = await with_telemetry(reader, run)
    return health


@router.post("/visits/{order_id}/record", dependencies=[_RECORDERS])
async def record_visit(
    order_id: OrderId,
    body: VisitIn,
    me: CurrentUser,
    uow: Uow,
    session: ReadSession,
    clock: Clock,
    sla: Sla,
    services: AppServices,
) -> VisitOut:
    visit = await visible_visit(session, order_id, me)
    health = await visit_health(session, me, visit, clock(), services.influx)
    await release(session)
    recorded = await plan_services.record_visit(
        uow,
        order_id,
        body.report(),
        me.actor,
        clock,
        sla,
        health=health,
        visible=partial(can_see_order, me.user),
    )
    return VisitOut.of(recorded)


@router.post("/visits/{order_id}/sign", dependencies=[_SIGNERS])
async def sign_visit(order_id: OrderId, me: CurrentUser, uow: Uow, clock: Clock) -> VisitOut:
    signed = await plan_services.sign_visit(
        uow, order_id, me.actor, clock, visible=partial(can_see_order, me.user)
    )
    return VisitOut.of(signed)
