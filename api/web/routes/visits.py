"""The maintenance visit on a phone: ``/tech/visits/{id}`` (technicians) and
``/visits/{id}`` (the property's elevator safety manager, to read and sign).

The technician's page is the visit's checklist as a form: who was there (the technician
and the colleagues they name), start and end in the site's time, and for each item done
(the default), not applicable or defect, a note and, for a measured item, the reading
with its unit and limits. Posting it builds the JSON API's body (:class:`VisitIn`) and
records the visit through :func:`maintenance.services.plans.record_visit` with the car's
health, exactly as ``POST /api/v1/maintenance/visits/{id}/record`` does; a refusal comes
back on the form in the page's language. The manager's page shows the record and signs it
(``POST /visits/{id}/sign``). Item titles are shown in the page's language (the
catalogue carries English and Chinese).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.deps import AppServices, Clock, ReadSession, Settings, Sla, Uow
from api.routes.plans import visible_visit, visit_health
from api.routes.work_orders import OrderId, release
from api.schemas.plans import VisitIn
from api.visibility import can_see_order
from api.web.deps import PageDep, WebUser, page_allow, page_router
from api.web.i18n import N_
from api.web.orders import hx_status, refusal
from maintenance.db.read.sites import get_site
from maintenance.domain.errors import DomainError, NotFound
from maintenance.domain.site_time import site_zone, to_site_time
from maintenance.domain.visits import Visit
from maintenance.services import plans as plan_services

__all__ = ["ITEM_STATUS_NAMES", "LEVEL_NAMES", "router"]

router = page_router()
_TECH = page_allow("technician")
_SIGNER = page_allow("manager")

LEVEL_NAMES: Final = {
    "half_monthly": N_("Half-monthly"),
    "quarterly": N_("Quarterly"),
    "half_yearly": N_("Half-yearly"),
    "yearly": N_("Yearly"),
}
ITEM_STATUS_NAMES: Final = {
    "done": N_("Done"),
    "not_applicable": N_("Not applicable"),
    "defect": N_("Defect"),
}
_LOCAL: Final = "%Y-%m-%dT%H:%M"  # an <input type="datetime-local"> value


def _local(value: str, zone: str) -> str:
    """A datetime-local field (the site's wall clock) as an aware ISO time; empty if not one."""
    try:
        return datetime.strptime(value, _LOCAL).replace(tzinfo=site_zone(zone)).isoformat()
    except ValueError:
        return ""


def _body(form: Any, visit: Visit, me: WebUser, zone: str) -> dict[str, Any]:
    """The posted form as the JSON API's record body (validated by :class:`VisitIn`)."""
    others = [name.strip() for name in str(form.get("others", "")).split(",")]
    results = []
    for item in visit.items:
        result: dict[str, Any] = {"code": item.name, "status": form.get(f"status-{item.name}")}
        note = str(form.get(f"note-{item.name}", "")).strip()
        reading = str(form.get(f"reading-{item.name}", "")).strip()
        result |= {"note": note} if note else {}
        result |= {"reading": reading} if reading else {}
        results.append(result)
    return {
        "technicians": [me.user.username, *(name for name in others if name)],
        "started_at": _local(str(form.get("started_at", "")), zone),
        "ended_at": _local(str(form.get("ended_at", "")), zone),
        "results": results,
    }


async def _visit_page(
    template: str,
    visit: Visit,
    page: PageDep,
    reader: ReadSession,
    now: datetime,
    *,
    error: str | None = None,
    posted: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    zone = (await get_site(reader, visit.site)).timezone
    await release(reader)
    page.site_tz = zone
    wall = to_site_time(now, zone)
    return page.render(
        template,
        {
            "visit": visit,
            "results": {r.code: r for r in visit.results},
            "posted": posted or {},
            "error": error,
            "started": (wall - timedelta(hours=1)).strftime(_LOCAL),
            "ended": wall.strftime(_LOCAL),
            "level_names": LEVEL_NAMES,
            "status_names": ITEM_STATUS_NAMES,
        },
        status_code=status_code,
    )


@router.get("/tech/visits/{order_id}", dependencies=[_TECH])
async def checklist(
    order_id: OrderId, me: WebUser, page: PageDep, reader: ReadSession, clock: Clock
) -> Response:
    visit = await visible_visit(reader, order_id, me)
    return await _visit_page("tech/visit.html", visit, page, reader, clock())


@router.post("/tech/visits/{order_id}", dependencies=[_TECH])
async def record(
    order_id: OrderId,
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    uow: Uow,
    clock: Clock,
    sla: Sla,
    services: AppServices,
    settings: Settings,
) -> Response:
    visit = await visible_visit(reader, order_id, me)
    zone = (await get_site(reader, visit.site)).timezone
    form = await request.form()
    try:
        body = VisitIn.model_validate(_body(form, visit, me, zone))
        health = await visit_health(reader, me, visit, clock(), services.influx)
        await release(reader)
        await plan_services.record_visit(
            uow,
            order_id,
            body.report(),
            me.actor,
            clock,
            sla,
            health=health,
            visible=lambda order: can_see_order(me.user, order),
        )
    except NotFound:
        raise
    except (DomainError, ValidationError) as exc:
        message = refusal(page, exc, settings)
        posted = {key: str(value) for key, value in form.items() if isinstance(value, str)}
        return await _visit_page(
            "tech/visit.html",
            visit,
            page,
            reader,
            clock(),
            error=message,
            posted=posted,
            status_code=hx_status(request),
        )
    return RedirectResponse(f"/tech/orders/{order_id}", status_code=303)


@router.get("/visits/{order_id}", dependencies=[_SIGNER])
async def record_page(
    order_id: OrderId, me: WebUser, page: PageDep, reader: ReadSession, clock: Clock
) -> Response:
    visit = await visible_visit(reader, order_id, me)
    return await _visit_page("visits/record.html", visit, page, reader, clock())


@router.post("/visits/{order_id}/sign", dependencies=[_SIGNER])
async def sign(
    order_id: OrderId,
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    uow: Uow,
    clock: Clock,
    settings: Settings,
) -> Response:
    try:
        await plan_services.sign_visit(
            uow, order_id, me.actor, clock, visible=lambda order: can_see_order(me.user, order)
        )
    except NotFound:
        raise
    except DomainError as exc:
        visit = await visible_visit(reader, order_id, me)
        message = refusal(page, exc, settings)
        return await _visit_page(
            "visits/record.html",
            visit,
            page,
            reader,
            clock(),
            error=message,
            status_code=hx_status(request),
        )
    return RedirectResponse(f"/visits/{order_id}", status_code=303)
