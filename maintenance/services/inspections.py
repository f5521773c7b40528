"""Elevator inspections: recording one, and the periodic check of every certificate.

- :func:`record_inspection`: someone records a car's periodic inspection (its date,
  certificate number and last valid day). If that makes a new current certificate, the
  car's inspection alarms of the old one are cleared in the same transaction, and an
  open expiry work order is cancelled with the new certificate as its reason (one
  already resolved goes on through verification as usual).
- :func:`check_inspections`: the maintenance worker's periodic check. Each certificate's
  30-day and 7-day reminders (notice alarms: recorded, counted and announced like any
  alarm, no work order) and its expiry (a P2 alarm, which opens one work order of fault
  kind ``inspection`` through the alarm policy) are raised once per certificate: each is
  recorded with the certificate in the same transaction as its alarm
  (:meth:`~maintenance.domain.ports.InspectionRepository.mark_sent`).

The days are the site's calendar days (:mod:`maintenance.domain.site_time`); which step a
certificate owes is the domain's (:func:`maintenance.domain.inspections.next_reminder`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from estatewatch.clock import Clock
from maintenance.domain.actors import Actor
from maintenance.domain.alarms import asset_key
from maintenance.domain.errors import InvalidRequest, NotFound
from maintenance.domain.events import DomainEvent
from maintenance.domain.inspections import (
    FAULT_KIND,
    RULES,
    CarInspection,
    Certificate,
    InspectionStatus,
    inspection_signal,
    next_reminder,
)
from maintenance.domain.ports import UnitOfWork
from maintenance.domain.workorders import Action, WorkOrder, allowed_actions
from maintenance.services.plans import SCHEDULE_BATCH
from maintenance.services.work_orders import Outcome, apply_signal, new_alarm_id

__all__ = ["InspectionCheck", "Recorded", "check_inspections", "record_inspection"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """The car after the inspection was recorded, and what that changed."""

    car: CarInspection
    cancelled: WorkOrder | None
    events: list[DomainEvent]


@dataclass(frozen=True, slots=True)
class InspectionCheck:
    """What a check did: each alarm raised or cleared, with its work order if any."""

    outcomes: list[Outcome]

    @property
    def events(self) -> list[DomainEvent]:
        return [event for outcome in self.outcomes for event in outcome.events]


async def record_inspection(
    uow: UnitOfWork,
    actor: Actor,
    clock: Clock,
    *,
    site: str,
    device_id: str,
    certificate: Certificate,
    new_id: Callable[[], str] = new_alarm_id,
) -> Recorded:
    """Record ``certificate`` for the elevator ``device_id`` of ``site`` as ``actor``.

    Raises NotFound for an unknown elevator; InvalidRequest for an inspection dated after
    the site's today or one on a day already recorded.
    """
    now = clock()
    async with uow:
        car = await _car(uow, site, device_id)
        today = car.day(now)
        if certificate.inspected_on > today:
            raise InvalidRequest(
                f"inspected_on {certificate.inspected_on} is in the future"
                f" (today at site {site} is {today})"
            )
        await uow.inspections.add(car.car, certificate, by=actor.audit_name, at=now)
        car = await _car(uow, site, device_id)
        outcomes = await _settle(uow, car, now, clock, new_id)
        cancelled = await _cancel_expiry_order(uow, car, actor, now)
        await uow.commit()
    events = [event for outcome in outcomes for event in outcome.pulled().events]
    if cancelled is not None:
        events += cancelled.pull_events()
    return Recorded(car, cancelled, events)


async def check_inspections(
    uow: UnitOfWork,
    clock: Clock,
    *,
    sites: Collection[str] | None = None,
    new_id: Callable[[], str] = new_alarm_id,
    batch: int = SCHEDULE_BATCH,
) -> InspectionCheck:
    """Raise the reminders and expiries due on the cars of ``sites`` (None: every site),
    and clear alarms a newer certificate has made stale, ``batch`` cars a transaction
    (for the scheduler's reasons: see :data:`maintenance.services.plans.SCHEDULE_BATCH`);
    a run stopped partway keeps what it settled, and the next settles the rest."""
    now = clock()
    outcomes: list[Outcome] = []
    async with uow:
        cars = await uow.inspections.cars(sites)
    for start in range(0, len(cars), batch):
        async with uow:
            for car in cars[start : start + batch]:
                outcomes += await _settle(uow, car, now, clock, new_id)
            await uow.commit()
    return InspectionCheck([outcome.pulled() for outcome in outcomes])


async def _car(uow: UnitOfWork, site: str, device_id: str) -> CarInspection:
    car = await uow.inspections.car(site, device_id)
    if car is None:
        raise NotFound(f"no elevator {device_id} at site {site}")
    return car


async def _settle(
    uow: UnitOfWork, car: CarInspection, now: datetime, clock: Clock, new_id: Callable[[], str]
) -> list[Outcome]:
    """Bring the car's inspection alarms in line with its current certificate: keep the
    one its status called for if this certificate raised it, clear the others, and raise
    the step the certificate still owes."""
    certificate, certificate_id = car.certificate, car.certificate_id
    if certificate is None or certificate_id is None:
        return []
    status = car.status(now)
    step = next_reminder(certificate, car.sent, car.day(now))
    outcomes = []
    for rule_step, rule in RULES.items():
        kept = rule_step is status and rule_step in car.sent
        if kept or await uow.alarms.active_for(car.car, rule) is None:
            continue
        signal = inspection_signal("cleared", rule_step, car.car, certificate, now, car.building)
        outcomes.append(await apply_signal(uow, signal, clock, new_id))
    if step is not None:
        signal = inspection_signal("raised", step, car.car, certificate, now, car.building)
        outcomes.append(await apply_signal(uow, signal, clock, new_id))
        await uow.inspections.mark_sent(certificate_id, step, now)
    return outcomes


async def _cancel_expiry_order(
    uow: UnitOfWork, car: CarInspection, actor: Actor, now: datetime
) -> WorkOrder | None:
    """A valid certificate settles the expiry's open order, unless work on it is done."""
    certificate = car.certificate
    if certificate is None or car.status(now) is InspectionStatus.EXPIRED:
        return None
    order = await uow.work_orders.open_for(asset_key(car.car), FAULT_KIND)
    if order is None or Action.CANCEL not in allowed_actions(order.status):
        return None
    number = f" {certificate.number}" if certificate.number else ""
    order.cancel(
        actor,
        now,
        reason=(
            f"inspection on {certificate.inspected_on} recorded: certificate{number} valid"
            f" until {certificate.valid_until}"
        ),
    )
    return order
