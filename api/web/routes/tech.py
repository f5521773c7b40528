"""The technician's phone pages: ``/tech`` (my orders, due first) and
``/tech/orders/{id}`` (SLA clocks, place, history, photos and the actions the state
allows, each a small form).

The list is the JSON API's work-order list under the technician's scope (assigned to
them, or unassigned at their sites: :mod:`api.visibility`), open work only, sorted by
the stored SLA due time (``sort=due``), so both show the same order. An action posts
``/tech/orders/{id}/<action>``; its fields are checked by the JSON API's own body
models and the command runs through :func:`maintenance.services.perform` with the
caller's visibility, exactly as ``POST /api/v1/work-orders/{id}/<action>`` does.
``resolve`` takes photos with it (proof of the repair): they are stored first, then the
order is resolved; ``arrive`` likewise (a photo on site), with the phone's location when
it gives one (``static/arrive.js``). A rescue order's page shows its timeline and
offers its steps (release, back in service, false alarm). Success goes back to the order
page (303, which htmx follows); a refusal re-renders the page with the reason in the
technician's language.
"""

from __future__ import annotations

from typing import Final

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api.deps import Clock, Photos, ReadSession, Settings, Sla, Uow
from api.errors import Problem
from api.routes.work_orders import OrderId, release
from api.schemas.work_orders import ArriveIn, CommentIn, CostIn, NoteIn, ReasonIn
from api.visibility import order_scope
from api.web.deps import PageDep, WebUser, page_allow, page_router
from api.web.i18n import N_
from api.web.orders import (
    STATUS_NAMES,
    FormAction,
    act_from_form,
    hx_status,
    load_order,
    order_page_context,
)
from maintenance.db.read.pages import PageRequest
from maintenance.db.read.work_orders import (
    SortKey,
    WorkOrderFilters,
    WorkOrderSort,
    list_work_orders,
)
from maintenance.domain import commands as cmd
from maintenance.domain.errors import NotFound
from maintenance.domain.workorders import Action, Status

__all__ = ["LIST_LIMIT", "TECH_ACTIONS", "TO_DO", "router"]

router = page_router()
_TECH = page_allow("technician")

LIST_LIMIT: Final = 100
TO_DO: Final = frozenset(Status) - {
    Status.RESOLVED,
    Status.VERIFIED,
    Status.CLOSED,
    Status.CANCELLED,
}
"""A technician's list: work not yet resolved (resolved work waits on the requester)."""

# The form of each action a technician takes on the phone: (body model, command), in the
# order the page offers them (on site first: a rescue's steps before the repair's).
TECH_ACTIONS: Final[dict[str, FormAction]] = {
    Action.ACKNOWLEDGE: (None, lambda order, _: cmd.Acknowledge(order)),
    Action.ARRIVE: (ArriveIn, lambda order, body: cmd.Arrive(order, body.latitude, body.longitude)),
    Action.RELEASE: (NoteIn, lambda order, body: cmd.Release(order, body.note)),
    Action.RETURN_TO_SERVICE: (NoteIn, lambda order, body: cmd.ReturnToService(order, body.note)),
    Action.START: (None, lambda order, _: cmd.Start(order)),
    Action.HOLD: (ReasonIn, lambda order, body: cmd.Hold(order, body.reason)),
    Action.RESUME: (None, lambda order, _: cmd.Resume(order)),
    Action.SET_COST: (CostIn, lambda order, body: cmd.SetCost(order, body.estimate, body.actual)),
    Action.COMMENT: (CommentIn, lambda order, body: cmd.Comment(order, body.text, body.public)),
    Action.RESOLVE: (NoteIn, lambda order, body: cmd.Resolve(order, body.note)),
    Action.FALSE_ALARM: (ReasonIn, lambda order, body: cmd.FalseAlarm(order, body.reason)),
}
WITH_PHOTOS: Final = frozenset({Action.RESOLVE, Action.ARRIVE})
"""Actions whose form takes photos: stored first, then the action runs."""

ACTION_LABELS: Final[dict[str, str]] = {
    Action.ACKNOWLEDGE: N_("Acknowledge"),
    Action.START: N_("Start work"),
    Action.HOLD: N_("Put on hold"),
    Action.RESUME: N_("Resume work"),
    Action.SET_COST: N_("Record cost"),
    Action.COMMENT: N_("Add note"),
    Action.RESOLVE: N_("Mark resolved"),
    Action.ARRIVE: N_("I am on site"),
    Action.RELEASE: N_("Passengers released"),
    Action.RETURN_TO_SERVICE: N_("Car back in service"),
    Action.FALSE_ALARM: N_("It was a false alarm"),
}


@router.get("/tech", dependencies=[_TECH])
async def my_orders(me: WebUser, page: PageDep, reader: ReadSession, clock: Clock) -> Response:
    now = clock()
    orders = await list_work_orders(
        reader,
        now=now,
        filters=WorkOrderFilters(status=TO_DO),
        sort=WorkOrderSort(SortKey.DUE, descending=False),
        page=PageRequest(limit=LIST_LIMIT),
        visible=order_scope(me.user),
    )
    await release(reader)
    return page.render(
        "tech/list.html",
        {"orders": orders.items, "now": now, "status_names": STATUS_NAMES, "me": me.user},
    )


async def _order_page(
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    clock: Clock,
    sla: Sla,
    order_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = await load_order(reader, order_id, me, clock, sla)
    if found is None:
        raise NotFound(f"no work order {order_id}")
    allowed = set(found.order.allowed_actions)
    return page.render(
        "orders/order.html",
        order_page_context(found, clock(), error)
        | {
            "back_url": "/tech",
            "back_label": N_("My orders"),
            "act_base": f"/tech/orders/{order_id}",
            "visit_url": f"/tech/visits/{order_id}",
            "actions": [action for action in TECH_ACTIONS if action in allowed],
            "action_labels": ACTION_LABELS,
            "with_photos": WITH_PHOTOS,
        },
        status_code=status_code,
    )


@router.get("/tech/orders/{order_id}", dependencies=[_TECH])
async def order_page(
    order_id: OrderId, me: WebUser, page: PageDep, reader: ReadSession, clock: Clock, sla: Sla
) -> Response:
    return await _order_page(me, page, reader, clock, sla, order_id)


@router.post("/tech/orders/{order_id}/{action}", dependencies=[_TECH])
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
    if action not in TECH_ACTIONS:
        raise Problem(404, f"no action {action}", kind="not-found")
    store_photos = store if action in WITH_PHOTOS else None
    message = await act_from_form(
        request, TECH_ACTIONS[action], order_id, me, page, uow, clock, sla, settings, store_photos
    )
    if message is not None:
        return await _order_page(
            me, page, reader, clock, sla, order_id, error=message, status_code=hx_status(request)
        )
    return RedirectResponse(f"/tech/orders/{order_id}", status_code=303)
