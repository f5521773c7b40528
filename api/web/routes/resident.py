"""The resident's phone pages: raise a request (``/report``), my requests
(``/my/requests``) and one request's timeline (``/my/requests/{id}``), where the
resident comments, adds photos, confirms or disputes the fix, and rates it.

``/report`` takes the place from the query a QR code's link carries:
``site``, ``building``, ``asset`` (an elevator car or other asset's id, shown as the
place) and ``place`` (free text), all optional; a person not logged in is sent through
the login page and back. The request is raised with :func:`api.routes.requests.open_request`,
the JSON route's own, and the photos chosen with it are then added one by one; a photo
refused after the request was raised is reported on the request's page, which says the
request itself went through.

"I am trapped" (``/report/trapped``): a resident in a stuck lift sends the car's rescue
code (the report form for a car fills it in; otherwise they type the code shown in the
car) and gets a receipt page: help is called, and by when the maintainer must be there.
It runs :func:`api.routes.rescues.report_trapped`, the JSON route's own.

Actions post ``/my/requests/{id}/<action>`` (comment, photo, confirm, dispute, rate) and
run the same commands as ``/api/v1/requests/{id}/...``, with the same checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from api.deps import Clock, Photos, ReadSession, Settings, Sla, Uow
from api.errors import Problem
from api.routes.requests import open_request
from api.routes.rescues import report_trapped
from api.routes.work_orders import OrderId, release
from api.schemas.work_orders import CommentIn, NewRequestIn, NoteIn, RateIn, ReasonIn, TrappedIn
from api.visibility import order_scope
from api.web.deps import Page, PageDep, WebUser, page_allow, page_router
from api.web.i18n import N_
from api.web.orders import (
    ACTION_NAMES,
    STATUS_NAMES,
    add_photos,
    filled_fields,
    hx_status,
    load_order,
    perform_as,
    refusal,
)
from maintenance.db.read.pages import PageRequest
from maintenance.db.read.sites import find_car
from maintenance.db.read.work_orders import WorkOrderSort, list_work_orders
from maintenance.domain import commands as cmd
from maintenance.domain.errors import AlreadyOpen, DomainError, NotFound, PhotoTooLarge
from maintenance.domain.sla import MINUTE
from maintenance.domain.workorders import Status

__all__ = ["CATEGORIES", "QR_FIELDS", "router"]

router = page_router()
_RESIDENT = page_allow("resident")

QR_FIELDS: Final = ("site", "building", "asset", "place")
"""The query a QR code's link to ``/report`` may carry (the QR sheet makes them)."""

CATEGORIES: Final[dict[str, str]] = {
    "elevator": N_("Elevator"),
    "lighting": N_("Lighting"),
    "plumbing": N_("Water and drains"),
    "electrical": N_("Electricity"),
    "door": N_("Doors and access"),
    "cleaning": N_("Cleaning"),
    "fire": N_("Fire safety"),
    "other": N_("Something else"),
}

Builder = Callable[[str, Any], cmd.OrderCommand]
RESIDENT_ACTIONS: Final[dict[str, tuple[type[BaseModel], Builder]]] = {
    "comment": (CommentIn, lambda order, body: cmd.Comment(order, body.text, public=True)),
    "confirm": (NoteIn, lambda order, body: cmd.Verify(order, body.note)),
    "dispute": (ReasonIn, lambda order, body: cmd.FailVerification(order, body.reason)),
    "rate": (RateIn, lambda order, body: cmd.Rate(order, body.stars, body.comment)),
}
_DONE: Final = {Status.RESOLVED.value, Status.VERIFIED.value, Status.CLOSED.value}


def _title(description: str, place: str) -> str:
    first = description.strip().splitlines()[0] if description.strip() else place
    return first if len(first) <= 60 else first[:59] + "…"


def _report_page(
    page: Page, values: dict[str, str], *, error: str | None = None, status_code: int = 200
) -> Response:
    return page.render(
        "resident/report.html",
        {"values": values, "categories": CATEGORIES, "error": error},
        status_code=status_code,
    )


@router.get("/report", dependencies=[_RESIDENT])
async def report_form(request: Request, page: PageDep, reader: ReadSession) -> Response:
    query = request.query_params
    values = {name: query[name].strip() for name in QR_FIELDS if query.get(name, "").strip()}
    if "place" not in values and "asset" in values:
        values["place"] = values["asset"]
    if values.get("asset", "").startswith("elev"):
        values["category"] = "elevator"
    if "site" in values and "asset" in values:  # a car's code: "I am trapped" in one tap
        car = await find_car(reader, site=values["site"], device_id=values["asset"])
        if car is not None and car.rescue_code:
            values["rescue_code"] = car.rescue_code
    await release(reader)
    return _report_page(page, values)


@router.get("/report/trapped", dependencies=[_RESIDENT])
async def trapped_form(page: PageDep) -> Response:
    return page.render("resident/trapped.html", {"values": {}, "error": None})


@router.post("/report/trapped", dependencies=[_RESIDENT])
async def trapped(
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    uow: Uow,
    clock: Clock,
    settings: Settings,
) -> Response:
    """Passengers trapped: the car's open rescue, or a new one; the receipt page."""
    values = filled_fields(await request.form())
    try:
        body = TrappedIn.model_validate(values)
        car, result = await report_trapped(body, me, reader, uow, clock)
    except NotFound:
        error = page.gettext(
            "No lift has the rescue code %(code)s. Check the code on the sign in the car.",
            code=values.get("rescue_code", ""),
        )
    except (DomainError, ValidationError) as exc:
        error = refusal(page, exc, settings)
    else:
        targets = None if result.order.rescue is None else result.order.rescue.targets
        return page.render(
            "resident/trapped_sent.html",
            {
                "car": car,
                "order_id": result.order.id,
                "arrive_by": targets and result.order.created_at + targets.arrive_within,
                "minutes": targets and targets.arrive_within // MINUTE,
            },
        )
    return page.render(
        "resident/trapped.html",
        {"values": values, "error": error},
        status_code=hx_status(request),
    )


@router.post("/report", dependencies=[_RESIDENT])
async def report(
    request: Request,
    me: WebUser,
    page: PageDep,
    uow: Uow,
    clock: Clock,
    store: Photos,
    settings: Settings,
) -> Response:
    form = await request.form()
    values = filled_fields(form)
    try:
        new = NewRequestIn(
            title=_title(values.get("description", ""), values.get("place", "")),
            place=values.get("place", ""),
            category=values.get("category", ""),
            description=values.get("description"),
            site=values.get("site"),
            building=values.get("building"),
            urgent=values.get("urgent") == "true",
        )
        result = await open_request(new, me, uow, clock)
    except AlreadyOpen as exc:
        # A neighbour's request is not the resident's to see: "already open", no id.
        message = (
            page.gettext("An open request already covers this place and problem.")
            if exc.order_id is None
            else page.gettext(
                "An open request already covers this place and problem: %(order)s.",
                order=exc.order_id,
            )
        )
        return _report_page(page, values, error=message, status_code=hx_status(request))
    except Problem as exc:  # no site on record to raise it at
        message = page.gettext(
            "We could not tell which compound this is for: %(why)s", why=exc.detail
        )
        return _report_page(page, values, error=message, status_code=hx_status(request))
    except (DomainError, ValidationError) as exc:
        message = refusal(page, exc, settings)
        if isinstance(exc, ValidationError) and any(
            error["type"] == "place_text" for error in exc.errors()
        ):
            message = page.gettext(
                "Write the place as one line of plain text, without “/”, “<” or “>”."
            )
        return _report_page(page, values, error=message, status_code=hx_status(request))
    order_id = result.order.id
    photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile)]
    try:
        await add_photos(photos, order_id, me, uow, clock, store, settings)
    except DomainError as exc:
        refused = "large" if isinstance(exc, PhotoTooLarge) else "type"
        return _go(request, f"/my/requests/{order_id}?photo={refused}")
    return _go(request, f"/my/requests/{order_id}?sent=1")


def _go(request: Request, url: str) -> Response:
    """To another page: a 303, or for htmx (which would swap the page it follows the 303
    to into this form) an ``HX-Redirect`` to load it whole."""
    if "hx-request" in request.headers:
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("/my/requests", dependencies=[_RESIDENT])
async def my_requests(me: WebUser, page: PageDep, reader: ReadSession, clock: Clock) -> Response:
    now = clock()
    found = await list_work_orders(
        reader,
        now=now,
        sort=WorkOrderSort(),  # newest first
        page=PageRequest(limit=100),
        visible=order_scope(me.user),
    )
    await release(reader)
    return page.render("resident/list.html", {"orders": found.items, "status_names": STATUS_NAMES})


async def _request_page(
    order_id: str,
    request: Request,
    me: WebUser,
    page: Page,
    reader: ReadSession,
    clock: Clock,
    sla: Sla,
    settings: Settings,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = await load_order(reader, order_id, me, clock, sla)
    if found is None:
        raise NotFound(f"no work order {order_id}")
    refused = request.query_params.get("photo")
    if error is None and refused is not None:
        error = (
            page.gettext("Your request was sent, but its photo was refused:")
            + " "
            + (
                page.gettext(
                    "The photo is larger than %(mb)s MB.", mb=settings.photo_max_bytes >> 20
                )
                if refused == "large"
                else page.gettext(
                    "That file is not a photo we can take: choose a JPEG, PNG or WebP."
                )
            )
        )
    order = found.order
    return page.render(
        "resident/request.html",
        {
            "view": found,
            "order": order,
            "error": error,
            "sent": request.query_params.get("sent") == "1" and error is None,
            "can_judge": order.status == Status.RESOLVED,
            "can_rate": order.status in _DONE and order.rating is None,
            "open": order.status not in (Status.CLOSED, Status.CANCELLED),
            "status_names": STATUS_NAMES,
            "action_names": ACTION_NAMES,
            "resident_view": True,
        },
        status_code=status_code,
    )


@router.get("/my/requests/{order_id}", dependencies=[_RESIDENT])
async def request_page(
    order_id: OrderId,
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    clock: Clock,
    sla: Sla,
    settings: Settings,
) -> Response:
    return await _request_page(order_id, request, me, page, reader, clock, sla, settings)


@router.post("/my/requests/{order_id}/{action}", dependencies=[_RESIDENT])
async def act(
    order_id: OrderId,
    action: str,
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    uow: Uow,
    clock: Clock,
    sla: Sla,
    store: Photos,
    settings: Settings,
) -> Response:
    if action != "photo" and action not in RESIDENT_ACTIONS:
        raise Problem(404, f"no action {action}", kind="not-found")
    form = await request.form()
    try:
        if action == "photo":
            photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile)]
            await add_photos(photos, order_id, me, uow, clock, store, settings)
        else:
            model, build = RESIDENT_ACTIONS[action]
            fields: dict[str, Any] = filled_fields(form)
            if fields.get("stars", "").isdigit():  # the API takes a JSON number, strictly
                fields["stars"] = int(fields["stars"])
            body = model.model_validate(fields)
            await perform_as(me, build(order_id, body), uow, clock, sla)
    except NotFound:
        raise
    except (DomainError, ValidationError) as exc:
        message = refusal(page, exc, settings)
        return await _request_page(
            order_id,
            request,
            me,
            page,
            reader,
            clock,
            sla,
            settings,
            error=message,
            status_code=hx_status(request),
        )
    return RedirectResponse(f"/my/requests/{order_id}", status_code=303)
