"""Work orders for staff, the committee and supervisors: list, detail, create, act.

Each state-machine action is a sub-resource, ``POST /work-orders/{id}/<action>`` (assign,
acknowledge, start, hold, resume, request-approval, approve, reject, resolve, verify,
reopen, close, cancel, rate, comment, cost, arrive; and for rescue orders release,
return-to-service, false-alarm), with its own body and role policy. The body
becomes a typed command (:mod:`maintenance.domain.commands`) that
:func:`maintenance.services.perform` runs with the caller's visibility rule
(:func:`api.visibility.can_see_order`): the order is loaded once, and one the caller may
not see is a 404 exactly like a missing one, decided in the transaction that changes it.
The answer is the order as it now is (webhooks go out from the audit trail:
:mod:`maintenance.webhook_relay`). The domain decides the rest:
an action the state does not allow is a 409, a rule that refuses this actor (a resolver
verifying) a 403.

Residents use ``/requests`` (:mod:`api.routes.requests`); technicians see the orders
assigned to them or unassigned at their sites (:mod:`api.visibility`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import (
    AppServices,
    Clock,
    CurrentUser,
    Principal,
    ReadSession,
    Session,
    Sla,
    Uow,
)
from api.policy import allow
from api.schemas.work_orders import (
    ORDER_ID_PATTERN,
    ArriveIn,
    AssignIn,
    CommentIn,
    CostIn,
    NewWorkOrderIn,
    NoteIn,
    NotificationOut,
    ReasonIn,
    WorkOrderOut,
    WorkOrderPageOut,
    WorkOrderQuery,
)
from api.visibility import can_see_order, order_scope
from estatewatch.clock import Clock as ClockFn
from maintenance import services
from maintenance.db.engine import Reads
from maintenance.db.read.notifications import order_notifications
from maintenance.db.read.work_orders import WorkOrderSort, list_work_orders, order_detail
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import STAFF_ROLES, Role
from maintenance.domain.errors import NotFound
from maintenance.domain.sla import SlaPolicy

__all__ = ["APPROVERS", "Act", "Desk", "OrderId", "Reader", "read_order", "release", "router"]

router = APIRouter(prefix="/work-orders", tags=["work orders"])

OrderId = Annotated[str, Path(pattern=ORDER_ID_PATTERN, description="WO-<year>-<number>")]

_READERS = allow("admin", "manager", "technician", "committee", "supervisor")
Reader = Annotated[Principal, _READERS]
"""The caller, from the readers' gate itself: a route that declared the gate and also
asked for ``CurrentUser`` had FastAPI solve the caller's dependencies twice a request."""
_DISPATCH = allow("admin", "manager")
# The staff roles work orders; the same roles may be given one (maintenance.domain.staff).
_WORKERS = allow(*STAFF_ROLES)
APPROVERS: Final[tuple[Role, ...]] = ("admin", "committee")
"""Who approves or rejects an order's spending (also the committee's web page)."""
_COMMITTEE = allow(*APPROVERS)


async def release(session: Reads) -> None:
    """End a read's transaction at once: on SQLite every transaction holds the database
    lock (``BEGIN IMMEDIATE``, :mod:`maintenance.db.engine`), and the ``Session``
    dependency closes only after the answer has been sent."""
    await session.close()


async def read_order(
    session: Reads, order_id: str, me: Principal, clock: ClockFn, sla: SlaPolicy
) -> WorkOrderOut:
    """The order as ``me`` may see it; NotFound (404) when missing or not theirs."""
    detail = await order_detail(
        session, order_id, policy=sla, now=clock(), visible=order_scope(me.user)
    )
    await release(session)
    if detail is None:
        raise NotFound(f"no work order {order_id}")
    return WorkOrderOut.of(detail, for_resident=me.user.role == "resident")


@dataclass(frozen=True, slots=True)
class Desk:
    """What every action needs, gathered once per request."""

    me: Principal
    uow: SqlUnitOfWork
    session: AsyncSession
    clock: ClockFn
    sla: SlaPolicy

    async def act(self, command: cmd.OrderCommand) -> WorkOrderOut:
        await services.perform(
            self.uow,
            command,
            self.me.actor,
            self.clock,
            self.sla,
            visible=partial(can_see_order, self.me.user),
        )
        return await read_order(self.session, command.order_id, self.me, self.clock, self.sla)


async def _desk(me: CurrentUser, uow: Uow, session: Session, clock: Clock, sla: Sla) -> Desk:
    return Desk(me, uow, session, clock, sla)


Act = Annotated[Desk, Depends(_desk)]


# The list and the detail, the hottest reads, take the whole AppServices and open a bare
# Core connection of the read-only engine themselves: one dependency to solve instead of a
# connection's generator, the clock and the SLA policy, each of which cost FastAPI's
# solving more than the little it does.


@router.get("")
async def list_orders(
    query: Annotated[WorkOrderQuery, Query()], me: Reader, app: AppServices
) -> WorkOrderPageOut:
    """Orders the caller may see, filtered, sorted and paged (keyset: follow next_cursor)."""
    async with app.reader.connect() as connection:
        page = await list_work_orders(
            connection,
            now=app.clock(),
            filters=query.filters(),
            sort=WorkOrderSort.parse(query.sort),
            page=query.page(),
            visible=order_scope(me.user),
        )
    return WorkOrderPageOut.of(page)


@router.post("", status_code=201, dependencies=[_WORKERS])
async def create_order(new: NewWorkOrderIn, desk: Act) -> WorkOrderOut:
    result = await services.create_order(
        desk.uow,
        desk.me.actor,
        desk.clock,
        title=new.title,
        asset=new.asset,
        site=new.site,
        category=new.category,
        fault_kind=new.fault_kind,
        priority=new.priority,
        location=new.location,
        description=new.description,
        requested_by=new.requested_by,
        visible=partial(can_see_order, desk.me.user),
    )
    return await read_order(desk.session, result.order.id, desk.me, desk.clock, desk.sla)


@router.get("/{order_id}")
async def get_order(order_id: OrderId, me: Reader, app: AppServices) -> WorkOrderOut:
    """The order with its history and SLA clocks."""
    async with app.reader.connect() as connection:
        return await read_order(connection, order_id, me, app.clock, app.sla_policy)


@router.get("/{order_id}/notifications")
async def get_notifications(
    order_id: OrderId, me: Reader, session: ReadSession
) -> list[NotificationOut]:
    """Who was told about the order, on which channel, and every attempt's result."""
    found = await order_notifications(session, order_id, visible=order_scope(me.user))
    await release(session)
    if found is None:
        raise NotFound(f"no work order {order_id}")
    return [NotificationOut.model_validate(each) for each in found]


@router.post("/{order_id}/assign", dependencies=[_DISPATCH])
async def assign(order_id: OrderId, body: AssignIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Assign(order_id, body.assignee))


@router.post("/{order_id}/acknowledge", dependencies=[_WORKERS])
async def acknowledge(order_id: OrderId, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Acknowledge(order_id))


@router.post("/{order_id}/start", dependencies=[_WORKERS])
async def start(order_id: OrderId, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Start(order_id))


@router.post("/{order_id}/hold", dependencies=[_WORKERS])
async def hold(order_id: OrderId, body: ReasonIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Hold(order_id, body.reason))


@router.post("/{order_id}/resume", dependencies=[_WORKERS])
async def resume(order_id: OrderId, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Resume(order_id))


@router.post("/{order_id}/cost", dependencies=[_WORKERS])
async def set_cost(order_id: OrderId, body: CostIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.SetCost(order_id, body.estimate, body.actual))


@router.post("/{order_id}/request-approval", dependencies=[_WORKERS])
async def request_approval(order_id: OrderId, body: NoteIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.RequestApproval(order_id, body.note))


@router.post("/{order_id}/approve", dependencies=[_COMMITTEE])
async def approve(order_id: OrderId, body: NoteIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Approve(order_id, body.note))


@router.post("/{order_id}/reject", dependencies=[_COMMITTEE])
async def reject(order_id: OrderId, body: ReasonIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Reject(order_id, body.reason))


@router.post("/{order_id}/resolve", dependencies=[_WORKERS])
async def resolve(order_id: OrderId, body: NoteIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Resolve(order_id, body.note))


@router.post("/{order_id}/verify", dependencies=[allow("supervisor")])
async def verify(order_id: OrderId, body: NoteIn, desk: Act) -> WorkOrderOut:
    """An owners' supervisor confirms the repair (never the one who resolved it)."""
    return await desk.act(cmd.Verify(order_id, body.note))


@router.post("/{order_id}/reopen", dependencies=[allow("supervisor")])
async def reopen(order_id: OrderId, body: ReasonIn, desk: Act) -> WorkOrderOut:
    """Verification failed: the order goes back to work (``fail_verification``)."""
    return await desk.act(cmd.FailVerification(order_id, body.reason))


@router.post("/{order_id}/close", dependencies=[_DISPATCH])
async def close(order_id: OrderId, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Close(order_id))


@router.post("/{order_id}/cancel", dependencies=[_DISPATCH])
async def cancel(order_id: OrderId, body: ReasonIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Cancel(order_id, body.reason))


@router.post("/{order_id}/comment", dependencies=[_READERS])
async def comment(order_id: OrderId, body: CommentIn, desk: Act) -> WorkOrderOut:
    return await desk.act(cmd.Comment(order_id, body.text, body.public))


@router.post("/{order_id}/arrive", dependencies=[_WORKERS])
async def arrive(order_id: OrderId, body: ArriveIn, desk: Act) -> WorkOrderOut:
    """On site (any order): stops a rescue's arrival clock. A photo goes to ``/photos``."""
    return await desk.act(cmd.Arrive(order_id, body.latitude, body.longitude))


@router.post("/{order_id}/release", dependencies=[_WORKERS])
async def release_passengers(order_id: OrderId, body: NoteIn, desk: Act) -> WorkOrderOut:
    """A rescue order's passengers are out of the car."""
    return await desk.act(cmd.Release(order_id, body.note))


@router.post("/{order_id}/return-to-service", dependencies=[_WORKERS])
async def return_to_service(order_id: OrderId, body: NoteIn, desk: Act) -> WorkOrderOut:
    """A rescue order's car runs again: the rescue ends and the order is resolved."""
    return await desk.act(cmd.ReturnToService(order_id, body.note))


@router.post("/{order_id}/false-alarm", dependencies=[_WORKERS])
async def false_alarm(order_id: OrderId, body: ReasonIn, desk: Act) -> WorkOrderOut:
    """Nobody was trapped: the rescue ends as a false alarm (the order is cancelled)."""
    return await desk.act(cmd.FalseAlarm(order_id, body.reason))
