"""Staff's order page (desktop or phone): ``/orders/{id}``, for those who see every order
(:data:`api.visibility.SEE_ALL`: admin, manager, committee, supervisor), opened from the
duty board, the supervisor's list, an asset's orders and the committee's pages.

The technician's order page (``orders/order.html``, :func:`api.web.orders.load_order`)
with its SLA clocks, rescue timeline, photos and history, and the desk's actions the
order's state allows *and* the JSON API lets the person's role take: the role set is
read from the API's own route (``POST /api/v1/work-orders/{id}/<action>``,
:func:`api.policy.route_policies`), so the page never offers what the API would refuse,
and a form posted anyway by another role is the 403 page. Actions post
``/orders/{id}/<action>`` and run through :func:`api.web.orders.act_from_form`, as the
technician's do.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import Clock, ReadSession, Settings, Sla, Uow
from api.errors import Problem
from api.policy import route_policies
from api.routes.work_orders import OrderId, release
from api.schemas.work_orders import AssignIn, CommentIn, NoteIn, ReasonIn
from api.users import list_users
from api.visibility import SEE_ALL
from api.web.deps import PageDep, PageForbiddenError, WebUser, page_allow, page_router
from api.web.i18n import N_
from api.web.nav import NAV, NavItem, home_of, nav_for
from api.web.orders import (
    FormAction,
    act_from_form,
    hx_status,
    load_order,
    order_page_context,
    technicians_by_site,
)
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Role
from maintenance.domain.errors import NotFound
from maintenance.domain.workorders import Action

__all__ = ["STAFF_ACTIONS", "STAFF_PAGE_ROLES", "router", "staff_may"]

router = page_router()
STAFF_PAGE_ROLES: Final[tuple[Role, ...]] = tuple(sorted(SEE_ALL))
_STAFF = page_allow(*STAFF_PAGE_ROLES)
# The order's one address, for links sent out of the app (notifications): a technician
# opening it lands on their own order page.
_ANYONE_AT_WORK = page_allow(*STAFF_PAGE_ROLES, "technician")

# Each desk action: its form, and the JSON API route's last path segment whose policy
# says who may take it; in the order the page offers them.
STAFF_ACTIONS: Final[dict[str, tuple[FormAction, str]]] = {
    Action.ASSIGN: ((AssignIn, lambda order, body: cmd.Assign(order, body.assignee)), "assign"),
    Action.APPROVE: ((NoteIn, lambda order, body: cmd.Approve(order, body.note)), "approve"),
    Action.REJECT: ((ReasonIn, lambda order, body: cmd.Reject(order, body.reason)), "reject"),
    Action.VERIFY: ((NoteIn, lambda order, body: cmd.Verify(order, body.note)), "verify"),
    Action.FAIL_VERIFICATION: (
        (ReasonIn, lambda order, body: cmd.FailVerification(order, body.reason)),
        "reopen",
    ),
    Action.CLOSE: ((None, lambda order, _: cmd.Close(order)), "close"),
    Action.COMMENT: (
        (CommentIn, lambda order, body: cmd.Comment(order, body.text, body.public)),
        "comment",
    ),
    Action.CANCEL: ((ReasonIn, lambda order, body: cmd.Cancel(order, body.reason)), "cancel"),
}

ACTION_LABELS: Final[dict[str, str]] = {
    Action.ASSIGN: N_("Assign"),
    Action.APPROVE: N_("Approve"),
    Action.REJECT: N_("Reject"),
    Action.VERIFY: N_("Verify"),
    Action.FAIL_VERIFICATION: N_("Reopen"),
    Action.CLOSE: N_("Close the order"),
    Action.COMMENT: N_("Add note"),
    Action.CANCEL: N_("Cancel the order"),
}


@cache
def _action_roles(app: FastAPI) -> dict[str, frozenset[Role]]:
    """Who the JSON API lets take each desk action (the app's routes never change)."""
    policies = route_policies(app)
    roles = {}
    for action, (_, segment) in STAFF_ACTIONS.items():
        route = f"/work-orders/{{order_id}}/{segment}"
        found = [p for (m, path), p in policies.items() if m == "POST" and path.endswith(route)]
        policy = found[0] if len(found) == 1 else None
        roles[action] = policy if isinstance(policy, frozenset) else frozenset()
    return roles


def staff_may(app: FastAPI, role: Role, action: str) -> bool:
    """Whether the JSON API lets ``role`` take the desk ``action``."""
    return role in _action_roles(app).get(action, frozenset())


def _back(role: Role) -> NavItem:
    """Where the page's back link goes: the duty board for those who have it, else the
    person's home page."""
    menu = {item.path: item for item in nav_for(role)}
    return menu.get("/board") or menu.get(home_of(role)) or NAV[-1]


async def _order_page(
    request: Request,
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
    actions = [
        action
        for action in STAFF_ACTIONS
        if action in allowed and staff_may(request.app, me.user.role, action)
    ]
    technicians: list[object] = []
    if Action.ASSIGN in actions:
        technicians = list(technicians_by_site(await list_users(reader)).get(found.order.site, []))
        await release(reader)
        if not technicians:  # nobody works this compound: nothing to choose from
            actions.remove(Action.ASSIGN)
    back = _back(me.user.role)
    return page.render(
        "orders/order.html",
        order_page_context(found, clock(), error)
        | {
            "actions": actions,
            "technicians": technicians,
            "back_url": back.path,
            "back_label": back.label,
            "act_base": f"/orders/{order_id}",
            "visit_url": f"/visits/{order_id}",
            "action_labels": ACTION_LABELS,
            "with_photos": frozenset(),
        },
        status_code=status_code,
    )


@router.get("/orders/{order_id}", dependencies=[_ANYONE_AT_WORK])
async def order_page(
    order_id: OrderId,
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    clock: Clock,
    sla: Sla,
) -> Response:
    if me.user.role == "technician":
        return RedirectResponse(f"/tech/orders/{order_id}", status_code=303)
    return await _order_page(request, me, page, reader, clock, sla, order_id)


@router.post("/orders/{order_id}/{action}", dependencies=[_STAFF])
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
    settings: Settings,
) -> Response:
    if action not in STAFF_ACTIONS:
        raise Problem(404, f"no action {action}", kind="not-found")
    if not staff_may(request.app, me.user.role, action):
        raise PageForbiddenError
    form_action, _ = STAFF_ACTIONS[action]
    message = await act_from_form(
        request, form_action, order_id, me, page, uow, clock, sla, settings
    )
    if message is not None:
        return await _order_page(
            request,
            me,
            page,
            reader,
            clock,
            sla,
            order_id,
            error=message,
            status_code=hx_status(request),
        )
    return RedirectResponse(f"/orders/{order_id}", status_code=303)
