"""Reporting an entrapment: the duty room (``POST /rescues``) and a trapped resident
(``POST /rescues/trapped``, the JSON twin of the web page's "I am trapped" button).

Both name the car by its rescue code (shown in the car and on its QR page) or, for the
duty room, by site and device id, and run :func:`maintenance.services.report_entrapment`:
the car's open rescue order if there is one (a second report becomes a note on it),
else a new P1 rescue order with the site's targets. The duty room gets the order; a
resident gets a short receipt (the order may have been opened by the rule, and is then
not theirs to read). The rescue's later steps are work-order actions
(:mod:`api.routes.work_orders`: arrive, release, return-to-service, false-alarm).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Principal
from api.errors import Problem
from api.policy import allow
from api.routes.work_orders import Act, read_order
from api.schemas.work_orders import RescueReportIn, TrappedIn, WorkOrderOut
from estatewatch.clock import Clock as ClockFn
from maintenance import services
from maintenance.db.read.sites import CarAt, find_car
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.errors import NotFound
from maintenance.domain.signals import DeviceRef
from maintenance.domain.sla import MINUTE
from maintenance.services import OrderResult

__all__ = ["TrappedOut", "report_trapped", "router"]

router = APIRouter(prefix="/rescues", tags=["rescue"])


class TrappedOut(BaseModel):
    """The receipt a trapped resident gets: help is on its way, and by when."""

    order_id: str
    device_id: str
    reported_at: datetime
    arrive_within_minutes: int | None
    """None for an entrapment order opened before rescue orders existed."""


async def _car(session: AsyncSession, body: RescueReportIn | TrappedIn) -> CarAt:
    if body.rescue_code is not None:
        car = await find_car(session, rescue_code=body.rescue_code)
        missing = f"no elevator with rescue code {body.rescue_code}"
    elif isinstance(body, RescueReportIn) and body.site and body.device_id:
        car = await find_car(session, site=body.site, device_id=body.device_id)
        missing = f"no elevator {body.device_id} at site {body.site}"
    else:
        raise Problem(
            422,
            "invalid request: give the car's rescue_code, or its site and device_id",
            kind="validation",
            extra={"errors": [{"field": "rescue_code", "where": "body", "message": "required"}]},
        )
    await session.close()
    if car is None:
        raise NotFound(missing)
    return car


async def report_trapped(
    body: TrappedIn, me: Principal, session: AsyncSession, uow: SqlUnitOfWork, clock: ClockFn
) -> tuple[CarAt, OrderResult]:
    """A resident's "I am trapped" (the JSON route and the web page both)."""
    car = await _car(session, body)
    if me.user.sites and car.site not in me.user.sites:
        raise NotFound(f"no elevator with rescue code {body.rescue_code}")
    result = await services.report_entrapment(
        uow,
        me.actor,
        clock,
        car=DeviceRef(car.site, "elevator", car.device_id),
        building=car.building,
        description=body.description,
    )
    return car, result


@router.post("", status_code=201, dependencies=[allow("admin", "manager")])
async def report(body: RescueReportIn, desk: Act) -> WorkOrderOut:
    """The duty room enters an entrapment (a phone call, the 96333 platform)."""
    car = await _car(desk.session, body)
    result = await services.report_entrapment(
        desk.uow,
        desk.me.actor,
        desk.clock,
        car=DeviceRef(car.site, "elevator", car.device_id),
        building=car.building,
        description=body.description,
    )
    return await read_order(desk.session, result.order.id, desk.me, desk.clock, desk.sla)


@router.post("/trapped", status_code=201, dependencies=[allow("resident")])
async def trapped(body: TrappedIn, desk: Act) -> TrappedOut:
    """I am trapped in the car with this rescue code."""
    car, result = await report_trapped(body, desk.me, desk.session, desk.uow, desk.clock)
    rescue = result.order.rescue
    return TrappedOut(
        order_id=result.order.id,
        device_id=car.device_id,
        reported_at=result.order.created_at if rescue is None else rescue.reported_at,
        arrive_within_minutes=None if rescue is None else rescue.targets.arrive_within // MINUTE,
    )
