"""Resident requests: the "resident raises a need" step of the closed loop.

A resident raises a request about a place in their building (``POST /requests``): it
becomes a work order of source ``resident``, requested by them, with the asset key
``<site>/building/<building>/<place>`` (the building is the resident's own unless the
request names one, as a QR code's link does; the place is free text) and fault kind =
category, so a second report of
the same need while the first is open answers 409, naming the open order only when it is
the resident's own (a neighbour's request is "already open", without its id). Residents list
and read only their own requests (anyone else's is a 404, exactly like a missing one),
see only the notes staff marked public, and rate the result once it is resolved.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Principal
from api.errors import Problem
from api.policy import allow
from api.routes.work_orders import Act, OrderId, read_order, release
from api.schemas.work_orders import (
    CommentIn,
    NewRequestIn,
    NoteIn,
    RateIn,
    ReasonIn,
    WorkOrderOut,
    WorkOrderPageOut,
    WorkOrderQuery,
)
from api.visibility import can_see_order, order_scope
from estatewatch.clock import Clock as ClockFn
from maintenance import services
from maintenance.db.read.work_orders import WorkOrderSort, list_work_orders
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.services import OrderResult

__all__ = ["open_request", "router"]

router = APIRouter(prefix="/requests", tags=["resident requests"])

_RESIDENT = allow("resident")


def _site_of(me: Principal, asked: str | None) -> str:
    sites = me.user.sites
    if asked is not None and (not sites or asked in sites):
        return asked
    if asked is None and len(sites) == 1:
        return sites[0]
    known = ", ".join(sites) or "none on record"
    raise Problem(
        422,
        f"invalid request: site: give the site you live at (yours: {known})",
        kind="validation",
        extra={"errors": [{"field": "site", "where": "body", "message": f"yours: {known}"}]},
    )


async def open_request(
    new: NewRequestIn, me: Principal, uow: SqlUnitOfWork, clock: ClockFn
) -> OrderResult:
    """The resident's request as a work order (the JSON route and the web form both)."""
    site = _site_of(me, new.site)
    building = new.building or me.user.building or "unknown"
    return await services.create_order(
        uow,
        me.actor,
        clock,
        title=new.title,
        asset=f"{site}/building/{building}/{new.place}",
        site=site,
        category=new.category,
        fault_kind=new.category,
        priority="P2" if new.urgent else "P3",
        # No words in the stored text: it is shown as is in either language.
        location=f"{building} {new.place}" + (f" · {me.user.unit}" if me.user.unit else ""),
        description=new.description,
        visible=partial(can_see_order, me.user),
    )


@router.post("", status_code=201, dependencies=[_RESIDENT])
async def raise_request(new: NewRequestIn, desk: Act) -> WorkOrderOut:
    result = await open_request(new, desk.me, desk.uow, desk.clock)
    return await read_order(desk.session, result.order.id, desk.me, desk.clock, desk.sla)


@router.get("", dependencies=[_RESIDENT])
async def my_requests(query: Annotated[WorkOrderQuery, Query()], desk: Act) -> WorkOrderPageOut:
    """The caller's own requests, newest first unless sorted otherwise."""
    page = await list_work_orders(
        desk.session,
        now=desk.clock(),
        filters=query.filters(),
        sort=WorkOrderSort.parse(query.sort),
        page=query.page(),
        visible=order_scope(desk.me.user),
    )
    await release(desk.session)
    return WorkOrderPageOut.of(page)


@router.get("/{order_id}", dependencies=[_RESIDENT])
async def my_request(order_id: OrderId, desk: Act) -> WorkOrderOut:
    """Where the request stands: status, public notes, SLA clocks and history."""
    return await read_order(desk.session, order_id, desk.me, desk.clock, desk.sla)


@router.post("/{order_id}/comment", dependencies=[_RESIDENT])
async def add_comment(order_id: OrderId, body: CommentIn, desk: Act) -> WorkOrderOut:
    """A resident's note is always visible to staff and to the resident."""
    return await desk.act(cmd.Comment(order_id, body.text, public=True))


@router.post("/{order_id}/confirm", dependencies=[_RESIDENT])
async def confirm(order_id: OrderId, body: NoteIn, desk: Act) -> WorkOrderOut:
    """The requesting resident confirms the repair (verifies it)."""
    return await desk.act(cmd.Verify(order_id, body.note))


@router.post("/{order_id}/dispute", dependencies=[_RESIDENT])
async def dispute(order_id: OrderId, body: ReasonIn, desk: Act) -> WorkOrderOut:
    """Not fixed after all: the order is reopened."""
    return await desk.act(cmd.FailVerification(order_id, body.reason))


@router.post("/{order_id}/rate", dependencies=[_RESIDENT])
async def rate(order_id: OrderId, body: RateIn, desk: Act) -> WorkOrderOut:
    """1-5 stars, once, after the work is resolved."""
    return await desk.act(cmd.Rate(order_id, body.stars, body.comment))
