"""Alarms, work orders and SLA checks: thin use cases over the persistence port.

No MQTT, HTTP or SQL here. Each function opens the unit of work, loads what it needs,
lets the domain decide, commits, and returns what changed together with the domain
events, which the caller turns into audit rows and webhooks *after* the commit.

- :func:`handle_signal`: a rule's signal -> alarm opened, bumped or cleared, and a work
  order opened or attached (policy in :mod:`maintenance.domain.alarms`). Clearing an
  alarm leaves its work order alone: the condition going away is not a repair.
- :func:`create_order`: staff or a resident asks for work, for a registered device or a
  place, at a site the caller may see; refused before anything is written otherwise.
- :func:`report_entrapment`: a resident ("I am trapped") or the duty room reports
  passengers trapped in a car: the open rescue order for the car, or a new one. A rule's
  entrapment opens one through :func:`handle_signal` (fault kind ``entrapment``).
- :func:`perform`: any state-machine action on an order, given as a command
  (:mod:`maintenance.domain.commands`) and run through ``COMMAND_HANDLERS``. The order
  is loaded once, and the caller's visibility predicate is checked on it in the same
  transaction as the change, so nothing can move it out of the caller's sight in between.
  An assignee must be able to take the order (:func:`maintenance.domain.staff.check_assignee`:
  an active technician of its site, a manager or an admin), else ``NotAssignable``.
- :func:`acknowledge_alarm`: an operator acknowledges an alarm (once: a second time
  raises :class:`~maintenance.domain.errors.AlreadyAcknowledged`).
- :func:`check_slas`: the scheduler's periodic SLA check; records and returns escalations,
  a rescue order's escalation chain included (clock ``rescue``).
- :func:`refresh_due_times`: at start, recompute the stored SLA due times that another
  policy computed (the unit of work stores each order's due time under its policy).
"""

from __future__ import annotations

__all__ = [
    "COMMAND_HANDLERS",
    "Context",
    "Handler",
    "OrderResult",
    "Outcome",
    "SlaCheck",
    "acknowledge_alarm",
    "apply_signal",
    "check_slas",
    "create_order",
    "handle_signal",
    "new_alarm_id",
    "perform",
    "refresh_due_times",
    "report_entrapment",
]

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from estatewatch.clock import Clock
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.alarms import (
    Alarm,
    AttachToOrder,
    Decision,
    OpenOrder,
    asset_key,
    decide,
    self_clears,
)
from maintenance.domain.asset_keys import parse_asset
from maintenance.domain.errors import AlreadyOpen, AssetRefused, NotFound, NotPermitted
from maintenance.domain.events import DomainEvent
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.rescue import (
    RESCUE_CATEGORY,
    RESCUE_CLOCK,
    RESCUE_FAULT_KIND,
    due_chain_steps,
)
from maintenance.domain.signals import DeviceRef, Priority, Signal
from maintenance.domain.sla import Escalation, SlaPolicy, due_escalations
from maintenance.domain.staff import check_assignee
from maintenance.domain.workorders import WorkOrder, format_order_id, repeat_of


def new_alarm_id() -> str:
    return f"ALM-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a signal did: ``alarm`` is None only when the signal was ignored."""

    decision: Decision
    alarm: Alarm | None = None
    work_order: WorkOrder | None = None
    events: list[DomainEvent] = field(default_factory=list)

    def pulled(self) -> Outcome:
        """This outcome with the events its alarm and order still hold."""
        if self.alarm is None:
            return self
        order = self.work_order.pull_events() if self.work_order else []
        return replace(self, events=self.alarm.pull_events() + order)


@dataclass(frozen=True, slots=True)
class OrderResult:
    order: WorkOrder
    events: list[DomainEvent]


@dataclass(frozen=True, slots=True)
class SlaCheck:
    escalations: list[Escalation]
    events: list[DomainEvent]


async def handle_signal(
    uow: UnitOfWork, signal: Signal, clock: Clock, new_id: Callable[[], str] = new_alarm_id
) -> Outcome:
    """Apply the alarm and work-order policy to one signal.

    Alarm times are the signal's; a new order's SLA clocks start at ``clock()``, when
    maintenance learns of the fault, so a delayed delivery does not eat staff's time.
    """
    async with uow:
        outcome = await apply_signal(uow, signal, clock, new_id)
        if outcome.alarm is None:  # ignored: nothing to commit
            return outcome
        await uow.commit()
    return outcome.pulled()


async def apply_signal(
    uow: UnitOfWork, signal: Signal, clock: Clock, new_id: Callable[[], str] = new_alarm_id
) -> Outcome:
    """:func:`handle_signal` inside a unit of work the caller opened and commits, for a
    use case that applies signals along with its own changes; the outcome's events are
    still pending (``outcome.pulled()`` after the commit, which audits them)."""
    alarm = await uow.alarms.active_for(signal.device, signal.rule)
    open_order = last_closed = None
    if signal.kind != "cleared" and alarm is None and signal.priority is not None:
        asset = asset_key(signal.device)
        open_order = await uow.work_orders.open_for(asset, signal.fault_kind)
        if open_order is None:
            last_closed = await uow.work_orders.last_closed_for(asset, signal.fault_kind)
    decision = decide(signal, alarm, open_order, last_closed)
    if decision.alarm == "ignore":
        return Outcome(decision)
    if alarm is None:
        alarm = Alarm.raise_from(new_id(), signal)
        await uow.alarms.add(alarm)
    elif decision.alarm == "clear":
        alarm.clear(signal.at)
        return Outcome(decision, alarm, await _self_cleared(uow, alarm, clock))
    else:
        alarm.bump(signal)
    order = await _place_alarm(uow, alarm, decision.work_order, clock)
    return Outcome(decision, alarm, order)


async def _self_cleared(uow: UnitOfWork, alarm: Alarm, clock: Clock) -> WorkOrder | None:
    """The cleared alarm's order, closed as self-cleared when nobody had acknowledged it."""
    if alarm.work_order_id is None:
        return None
    order = await _get_order(uow, alarm.work_order_id)
    if not self_clears(order, alarm):
        return None
    order.close_self_cleared(clock())
    return order


async def _place_alarm(
    uow: UnitOfWork, alarm: Alarm, step: OpenOrder | AttachToOrder | None, clock: Clock
) -> WorkOrder | None:
    if step is None:
        return None
    now = clock()
    if isinstance(step, AttachToOrder):
        order = await _get_order(uow, step.order_id)
        order.attach_alarm(alarm.id, now, step.priority, alarm.code)
    else:
        rescue = None
        if step.category == RESCUE_CATEGORY:
            rescue = await uow.sites.rescue_targets(step.site, alarm.device.device_id)
        order = WorkOrder.open(
            id=format_order_id(now.year, await uow.work_orders.next_number(now.year)),
            title=step.title,
            asset=step.asset,
            site=step.site,
            location=step.location,
            category=step.category,
            fault_kind=step.fault_kind,
            priority=step.priority,
            source=step.source,
            now=now,
            repeat_of=step.repeat_of,
            alarm_ids=(alarm.id,),
            rescue=rescue,
            code=step.code,
        )
        await uow.work_orders.add(order)
    alarm.link_work_order(order.id)
    return order


async def create_order(
    uow: UnitOfWork,
    actor: Actor,
    clock: Clock,
    *,
    title: str,
    asset: str,
    site: str,
    category: str,
    fault_kind: str,
    priority: Priority,
    location: str | None = None,
    description: str | None = None,
    requested_by: str | None = None,
    visible: Callable[[WorkOrder], bool] = lambda order: True,
) -> OrderResult:
    """A work order asked for by a resident (source ``resident``, requested by them) or by
    staff (source ``staff``, on behalf of ``requested_by`` if given).

    Every check comes before the commit, so a refused request changes nothing:
    ``visible`` is the caller's sight (as in :func:`perform`), and a caller may open only
    an order they would then see (:class:`NotPermitted` otherwise: a technician at
    another site); the asset must agree with ``site`` and a device must be in the
    register (:class:`AssetRefused`, :mod:`maintenance.domain.asset_keys`);
    :class:`AlreadyOpen` when an order is open for (asset, fault kind), naming it only
    if ``visible`` lets the caller see it. Links the new order as a repeat fault when the
    last one closed within 30 days.
    """
    resident = actor.role == "resident"
    async with uow:
        # Looked up first, as every path that opens an order does (it locks the asset and
        # fault kind before the year's counter), but told only after the checks below.
        existing = await uow.work_orders.open_for(asset, fault_kind)
        now = clock()
        last_closed = await uow.work_orders.last_closed_for(asset, fault_kind)
        order = WorkOrder.open(
            id=format_order_id(now.year, await uow.work_orders.next_number(now.year)),
            title=title,
            asset=asset,
            site=site,
            location=location,
            category=category,
            fault_kind=fault_kind,
            priority=priority,
            source="resident" if resident else "staff",
            now=now,
            created_by=actor,
            requested_by=actor.user_id if resident else requested_by,
            description=description,
            repeat_of=repeat_of(last_closed, now),
        )
        # Sight first: what comes after (the register, open orders) is none of theirs.
        if not visible(order):
            raise NotPermitted(
                f"{actor.user_id} ({actor.role}) may not open an order at site {site}"
            )
        named = parse_asset(site, asset)
        if isinstance(named, DeviceRef) and not await uow.sites.has_device(named):
            raise AssetRefused(
                "unknown",
                f"no {named.device_type} {named.device_id!r} at site {site} in the asset register",
            )
        if existing is not None:
            raise AlreadyOpen(existing.id if visible(existing) else None, asset, fault_kind)
        await uow.work_orders.add(order)
        await uow.commit()
    return OrderResult(order, order.pull_events())


async def report_entrapment(
    uow: UnitOfWork,
    actor: Actor,
    clock: Clock,
    *,
    car: DeviceRef,
    building: str | None = None,
    description: str | None = None,
) -> OrderResult:
    """Passengers are trapped in ``car`` (an elevator), says ``actor``: a resident inside
    it or the duty room. Returns the car's open rescue order if there is one (a second
    report adds a visible note to it rather than an error), else opens one: P1, source
    ``resident`` or ``staff``, with the site's rescue targets."""
    asset = asset_key(car)
    resident = actor.role == "resident"
    async with uow:
        now = clock()
        order = await uow.work_orders.open_for(asset, RESCUE_FAULT_KIND)
        if order is not None:
            order.comment(actor, now, text=description or "passengers trapped: reported again")
        else:
            last_closed = await uow.work_orders.last_closed_for(asset, RESCUE_FAULT_KIND)
            order = WorkOrder.open(
                id=format_order_id(now.year, await uow.work_orders.next_number(now.year)),
                title=f"{car.device_id}: passengers trapped",
                asset=asset,
                site=car.site,
                location=building,
                category=RESCUE_CATEGORY,
                fault_kind=RESCUE_FAULT_KIND,
                priority="P1",
                source="resident" if resident else "staff",
                now=now,
                created_by=actor,
                requested_by=actor.user_id if resident else None,
                description=description,
                repeat_of=repeat_of(last_closed, now),
                rescue=await uow.sites.rescue_targets(car.site, car.device_id),
            )
            await uow.work_orders.add(order)
        await uow.commit()
    return OrderResult(order, order.pull_events())


async def perform(
    uow: UnitOfWork,
    command: cmd.OrderCommand,
    actor: Actor,
    clock: Clock,
    policy: SlaPolicy,
    *,
    visible: Callable[[WorkOrder], bool] = lambda order: True,
) -> OrderResult:
    """Run one command on its order as ``actor``. Domain errors propagate unchanged.

    ``visible`` is the caller's sight (the API passes who may see which order): an order
    it leaves out raises the same :class:`NotFound` as a missing one, decided on the very
    order the command then changes, inside the same transaction.
    """
    async with uow:
        order = await uow.work_orders.get(command.order_id)
        if order is None or not visible(order):
            raise NotFound(f"no work order {command.order_id}")
        if isinstance(command, cmd.Assign):
            # The one command that names a person: they must be able to take the order.
            person = await uow.accounts.worker(command.assignee)
            check_assignee(order.id, order.site, command.assignee, person)
        handler = COMMAND_HANDLERS[type(command)]
        handler(order, command, Context(actor, clock(), policy.approval_threshold))
        await uow.commit()
    return OrderResult(order, order.pull_events())


async def acknowledge_alarm(
    uow: UnitOfWork,
    alarm_id: str,
    actor: Actor,
    clock: Clock,
    *,
    visible: Callable[[Alarm], bool] = lambda alarm: True,
) -> Alarm:
    """Acknowledge an alarm as ``actor``; one ``visible`` leaves out is :class:`NotFound`,
    like a missing one (decided in the acknowledging transaction, as in :func:`perform`)."""
    async with uow:
        alarm = await uow.alarms.get(alarm_id)
        if alarm is None or not visible(alarm):
            raise NotFound(f"no alarm {alarm_id}")
        alarm.acknowledge(actor, clock())
        await uow.commit()
    return alarm


async def check_slas(
    uow: UnitOfWork, policy: SlaPolicy, clock: Clock, *, sites: Collection[str] | None = None
) -> SlaCheck:
    """Find escalations due on open orders, record them on the orders and return them.

    ``sites``: only the orders of these sites (None: every site), so maintenance workers
    that split the sites between them each escalate their own, and no order twice.

    Recorded on the order and in the audit trail in one commit; the maintenance worker's
    webhook relay (:mod:`maintenance.webhook_relay`) sends them from there.
    """
    now = clock()
    escalations: list[Escalation] = []
    async with uow:
        orders = await uow.work_orders.needing_sla_check(sites)
        for order in orders:
            due = due_escalations(order, policy, now)
            for escalation in due:
                order.record_escalation(
                    escalation.clock,
                    escalation.level,
                    escalation.notify,
                    now,
                    overdue_minutes=escalation.overdue_minutes,
                )
            escalations += due + _escalate_rescue(order, now)
        await uow.commit()
    # Pulled after the commit: the unit of work audits the events still pending on its
    # orders, and an event pulled before would never reach the trail (nor webhooks).
    events: list[DomainEvent] = [event for order in orders for event in order.pull_events()]
    return SlaCheck(escalations, events)


def _escalate_rescue(order: WorkOrder, now: datetime) -> list[Escalation]:
    """Record the rescue chain's due steps on ``order`` (clock ``rescue``, once each)."""
    if order.rescue is None:
        return []
    sent = {e.level for e in order.escalations if e.clock == RESCUE_CLOCK}
    done = []
    for step, late in due_chain_steps(order.rescue, sent, now):
        escalation = Escalation(
            order.id, RESCUE_CLOCK, step.level, step.notify, order.priority, late
        )
        order.record_escalation(
            RESCUE_CLOCK, step.level, step.notify, now, overdue_minutes=escalation.overdue_minutes
        )
        done.append(escalation)
    return done


async def refresh_due_times(uow: UnitOfWork) -> int:
    """Recompute the stored due times of open orders computed under other SLA targets than
    the unit's (a changed policy file, or orders stored before due times were); returns
    how many. Loading them is enough: the commit writes each order's due time anew."""
    async with uow:
        stale = await uow.work_orders.with_stale_due_times()
        await uow.commit()
    return len(stale)


async def _get_order(uow: UnitOfWork, order_id: str) -> WorkOrder:
    order = await uow.work_orders.get(order_id)
    if order is None:
        raise NotFound(f"no work order {order_id}")
    return order


# -- command handlers ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """What every handler gets besides the order and its command."""

    actor: Actor
    now: datetime
    approval_threshold: Decimal


_C = TypeVar("_C", bound=cmd.OrderCommand)
Handler = Callable[[WorkOrder, _C, Context], None]

_handlers: dict[type[object], Handler[Any]] = {}
COMMAND_HANDLERS: Mapping[type[object], Handler[Any]] = _handlers
"""One handler per command class (a test holds that every command has one)."""


def _handles(kind: type[_C]) -> Callable[[Handler[_C]], Handler[_C]]:
    """Register a handler for ``kind``; mypy checks that it takes exactly that command."""

    def register(handler: Handler[_C]) -> Handler[_C]:
        _handlers[kind] = handler
        return handler

    return register


@_handles(cmd.Assign)
def _assign(order: WorkOrder, c: cmd.Assign, ctx: Context) -> None:
    order.assign(ctx.actor, ctx.now, assignee=c.assignee)


@_handles(cmd.Acknowledge)
def _acknowledge(order: WorkOrder, c: cmd.Acknowledge, ctx: Context) -> None:
    order.acknowledge(ctx.actor, ctx.now)


@_handles(cmd.Start)
def _start(order: WorkOrder, c: cmd.Start, ctx: Context) -> None:
    order.start(ctx.actor, ctx.now, approval_threshold=ctx.approval_threshold)


@_handles(cmd.Hold)
def _hold(order: WorkOrder, c: cmd.Hold, ctx: Context) -> None:
    order.hold(ctx.actor, ctx.now, reason=c.reason)


@_handles(cmd.Resume)
def _resume(order: WorkOrder, c: cmd.Resume, ctx: Context) -> None:
    order.resume(ctx.actor, ctx.now, approval_threshold=ctx.approval_threshold)


@_handles(cmd.RequestApproval)
def _request_approval(order: WorkOrder, c: cmd.RequestApproval, ctx: Context) -> None:
    order.request_approval(ctx.actor, ctx.now, reason=c.reason)


@_handles(cmd.Approve)
def _approve(order: WorkOrder, c: cmd.Approve, ctx: Context) -> None:
    order.approve(ctx.actor, ctx.now, reason=c.reason)


@_handles(cmd.Reject)
def _reject(order: WorkOrder, c: cmd.Reject, ctx: Context) -> None:
    order.reject(ctx.actor, ctx.now, reason=c.reason)


@_handles(cmd.Resolve)
def _resolve(order: WorkOrder, c: cmd.Resolve, ctx: Context) -> None:
    order.resolve(ctx.actor, ctx.now, approval_threshold=ctx.approval_threshold, note=c.note)


@_handles(cmd.Verify)
def _verify(order: WorkOrder, c: cmd.Verify, ctx: Context) -> None:
    order.verify(ctx.actor, ctx.now, note=c.note)


@_handles(cmd.FailVerification)
def _fail_verification(order: WorkOrder, c: cmd.FailVerification, ctx: Context) -> None:
    order.fail_verification(ctx.actor, ctx.now, reason=c.reason)


@_handles(cmd.Close)
def _close(order: WorkOrder, c: cmd.Close, ctx: Context) -> None:
    order.close(ctx.actor, ctx.now)


@_handles(cmd.Cancel)
def _cancel(order: WorkOrder, c: cmd.Cancel, ctx: Context) -> None:
    order.cancel(ctx.actor, ctx.now, reason=c.reason)


@_handles(cmd.Rate)
def _rate(order: WorkOrder, c: cmd.Rate, ctx: Context) -> None:
    order.rate(ctx.actor, ctx.now, stars=c.stars, comment=c.comment)


@_handles(cmd.Comment)
def _comment(order: WorkOrder, c: cmd.Comment, ctx: Context) -> None:
    order.comment(ctx.actor, ctx.now, text=c.text, public=c.public)


@_handles(cmd.SetCost)
def _set_cost(order: WorkOrder, c: cmd.SetCost, ctx: Context) -> None:
    order.set_cost(ctx.actor, ctx.now, estimate=c.estimate, actual=c.actual)


@_handles(cmd.Arrive)
def _arrive(order: WorkOrder, c: cmd.Arrive, ctx: Context) -> None:
    order.arrive(ctx.actor, ctx.now, latitude=c.latitude, longitude=c.longitude)


@_handles(cmd.Release)
def _release(order: WorkOrder, c: cmd.Release, ctx: Context) -> None:
    order.release(ctx.actor, ctx.now, note=c.note)


@_handles(cmd.ReturnToService)
def _return_to_service(order: WorkOrder, c: cmd.ReturnToService, ctx: Context) -> None:
    order.return_to_service(
        ctx.actor, ctx.now, approval_threshold=ctx.approval_threshold, note=c.note
    )


@_handles(cmd.FalseAlarm)
def _false_alarm(order: WorkOrder, c: cmd.FalseAlarm, ctx: Context) -> None:
    order.false_alarm(ctx.actor, ctx.now, reason=c.reason)
