"""Elevator inspections: each car's certificate and status (staff, committee,
supervisors; technicians for their sites), and recording a new inspection (the manager
or an admin).

Recording runs :func:`maintenance.services.record_inspection`: the new certificate
clears the car's inspection reminders and expiry alarm, and cancels the expiry's open
work order (:mod:`maintenance.services.inspections`). A date that is no date, or a
certificate valid until before its inspection, is a 422 naming the field; an inspection
dated after the site's today or on a day already recorded is a 422 saying so.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Clock, CurrentUser, ReadSession, Uow
from api.policy import allow
from api.routes.work_orders import release
from api.schemas.inspections import InspectionIn, InspectionOut, RecordedOut
from api.visibility import can_see_site
from estatewatch.wire import NAME_PATTERN
from maintenance import services
from maintenance.db.read.inspections import inspected_cars

__all__ = ["router"]

router = APIRouter(prefix="/inspections", tags=["inspections"])


@router.get("", dependencies=[allow("admin", "manager", "committee", "supervisor", "technician")])
async def list_inspections(
    me: CurrentUser,
    session: ReadSession,
    clock: Clock,
    site: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
) -> list[InspectionOut]:
    """Every elevator the caller may see (of ``site``), by site, building and device id."""
    cars = await inspected_cars(session, sites=None if site is None else (site,))
    await release(session)
    now = clock()
    return [InspectionOut.of(car, now) for car in cars if can_see_site(me.user, car.car.site)]


@router.post("", status_code=201, dependencies=[allow("admin", "manager")])
async def record_inspection(
    body: InspectionIn, me: CurrentUser, uow: Uow, clock: Clock
) -> RecordedOut:
    """Record a car's periodic inspection; answers the car's certificate as it now is."""
    recorded = await services.record_inspection(
        uow,
        me.actor,
        clock,
        site=body.site,
        device_id=body.device_id,
        certificate=body.certificate(),
    )
    cancelled = recorded.cancelled
    return RecordedOut(
        inspection=InspectionOut.of(recorded.car, clock()),
        cancelled_work_order=None if cancelled is None else cancelled.id,
    )
