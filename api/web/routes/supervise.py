"""The supervisor's page (the owners' supervisor; phone or desktop): ``/supervise``.

Resolved work waiting for verification, oldest first; for each, verify it (with an
optional note) or reopen it (fail verification, with the reason the technician will
read). The forms post ``/supervise/orders/{id}/verify|reopen``, checked by the JSON API's
body models and run through :func:`maintenance.services.perform` with the caller's
visibility, exactly as ``POST /api/v1/work-orders/{id}/verify|reopen`` (supervisors
only, there too). A refusal comes back on the page in the person's language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from api.deps import Clock, ReadSession, Settings, Sla, Uow
from api.errors import Problem
from api.routes.work_orders import OrderId, release
from api.schemas.work_orders import NoteIn, ReasonIn
from api.visibility import order_scope
from api.web.deps import PageDep, WebUser, page_allow, page_router
from api.web.orders import filled_fields, hx_status, perform_as, refusal
from maintenance.db.read.pages import PageRequest
from maintenance.db.read.work_orders import (
    SortKey,
    WorkOrderFilters,
    WorkOrderSort,
    list_work_orders,
)
from maintenance.domain import commands as cmd
from maintenance.domain.errors import DomainError, NotFound
from maintenance.domain.workorders import Status

__all__ = ["VERDICTS", "router"]

router = page_router()
_SUPERVISOR = page_allow("supervisor")
LIMIT: Final = 100

# Each verdict's body model and command.
VERDICTS: Final[dict[str, tuple[type[BaseModel], Callable[[str, Any], cmd.OrderCommand]]]] = {
    "verify": (NoteIn, lambda order, body: cmd.Verify(order, body.note)),
    "reopen": (ReasonIn, lambda order, body: cmd.FailVerification(order, body.reason)),
}


async def _page(
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    clock: Clock,
    *,
    error: tuple[str, str] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    orders = await list_work_orders(
        reader,
        now=clock(),
        filters=WorkOrderFilters(status=frozenset({Status.RESOLVED})),
        sort=WorkOrderSort(SortKey.CREATED_AT, descending=False),
        page=PageRequest(limit=LIMIT),
        visible=order_scope(me.user),
    )
    await release(reader)
    return page.render(
        "supervise/list.html",
        {"orders": orders.items, "error": error, "done": done},
        status_code=status_code,
    )


@router.get("/supervise", dependencies=[_SUPERVISOR])
async def to_verify(
    me: WebUser, page: PageDep, reader: ReadSession, clock: Clock, done: str | None = None
) -> Response:
    return await _page(me, page, reader, clock, done=done if done in VERDICTS else None)


@router.post("/supervise/orders/{order_id}/{verdict}", dependencies=[_SUPERVISOR])
async def judge(
    order_id: OrderId,
    verdict: str,
    request: Request,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    uow: Uow,
    clock: Clock,
    sla: Sla,
    settings: Settings,
) -> Response:
    if verdict not in VERDICTS:
        raise Problem(404, f"no verdict {verdict}", kind="not-found")
    model, build = VERDICTS[verdict]
    form = await request.form()
    try:
        body = model.model_validate(filled_fields(form))
        await perform_as(me, build(order_id, body), uow, clock, sla)
    except NotFound:
        raise
    except (DomainError, ValidationError) as exc:
        message = refusal(page, exc, settings)
        return await _page(
            me,
            page,
            reader,
            clock,
            error=(order_id, message),
            status_code=hx_status(request),
        )
    return RedirectResponse(f"/supervise?done={verdict}", status_code=303)
