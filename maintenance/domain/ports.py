"""The persistence port the maintenance service layer uses.

A :class:`UnitOfWork` is an async context manager around one transaction, with nine
repositories (alarms, work orders, spending proposals, work-order photos, the site
register (rescue settings, its devices), maintenance plans, maintenance visits, elevator
inspections and the quarantine of senders the register does not have), and a read
of the people with accounts (``accounts``: who may be given an order). Contract for
adapters (SQLAlchemy in ``maintenance/db/``, an in-memory fake in the tests):

- Objects passed to ``add`` or returned by any getter are *tracked*: changes made through
  their methods are written at ``commit()``, with no explicit save call.
- ``commit()`` makes every change of the unit durable at once; ``rollback()`` discards
  them. Leaving the ``async with`` block without ``commit()`` rolls back.
- ``pending_events`` of alarms, orders and proposals are not persisted: the service layer
  pulls them (the SQL adapter also writes them to the audit trail at commit).
- Datetimes go in and come out timezone-aware UTC; ``Decimal`` amounts keep their value.
- Open order: status not ``closed`` or ``cancelled``. Active alarm: ``cleared_at`` is None.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from maintenance.domain.alarms import Alarm
from maintenance.domain.events import DomainEvent
from maintenance.domain.inspections import CarInspection, Certificate, Step
from maintenance.domain.intervals import IntervalLimits
from maintenance.domain.photos import Photo
from maintenance.domain.plans import Plan, PlannedCar
from maintenance.domain.proposals import SpendingProposal
from maintenance.domain.quarantine import Decision, Sighting
from maintenance.domain.rescue import RescueTargets
from maintenance.domain.signals import DeviceRef
from maintenance.domain.staff import Worker
from maintenance.domain.visits import Visit
from maintenance.domain.workorders import WorkOrder

if TYPE_CHECKING:  # the site file's device models (pydantic, no I/O) import the domain
    from maintenance.sites import Device


class AlarmRepository(Protocol):
    async def add(self, alarm: Alarm) -> None:
        """Store a new alarm (its ``id`` is unique; the service makes it)."""

    async def get(self, alarm_id: str) -> Alarm | None:
        """The alarm with this id, active or not; None if there is none."""

    async def active_for(self, device: DeviceRef, rule: str) -> Alarm | None:
        """The active alarm for (device, rule); there is at most one."""


class WorkOrderRepository(Protocol):
    async def add(self, order: WorkOrder) -> None:
        """Store a new work order (``id`` from :meth:`next_number`)."""

    async def get(self, order_id: str) -> WorkOrder | None:
        """The order with this human id (``WO-2026-000123``); None if there is none."""

    async def open_for(self, asset: str, fault_kind: str) -> WorkOrder | None:
        """The open order for (asset, fault kind); there is at most one."""

    async def last_closed_for(self, asset: str, fault_kind: str) -> WorkOrder | None:
        """The order for (asset, fault kind) with the latest ``closed_at`` (status closed;
        cancelled orders do not count), or None."""

    async def needing_sla_check(self, sites: Collection[str] | None = None) -> list[WorkOrder]:
        """Every open order (not closed or cancelled) of ``sites`` (None: of every site),
        oldest first, for the SLA scheduler."""

    async def with_stale_due_times(self) -> list[WorkOrder]:
        """Open orders whose stored SLA due time was computed under other targets than the
        adapter's policy (or never); the unit's commit recomputes them. An adapter that
        stores no due times returns none."""

    async def next_number(self, year: int) -> int:
        """The next order number for ``year`` (1, 2, 3, ...), unique across concurrent
        units of work and never reused; a rolled-back unit may leave a gap."""


class ProposalRepository(Protocol):
    async def add(self, proposal: SpendingProposal) -> None:
        """Store a new proposal (its ``id`` is unique; the service makes it)."""

    async def get(self, proposal_id: str) -> SpendingProposal | None:
        """The proposal with this id, with its vote if one was opened; None if none."""

    async def asset_exists(self, asset_id: int) -> bool:
        """Whether a registered asset has this row id (a proposal may be about one)."""


class PhotoRepository(Protocol):
    async def add(self, photo: Photo) -> None:
        """Store a new photo's record (its order exists; its files are stored already)."""


class SiteRepository(Protocol):
    async def rescue_targets(self, site: str, device_id: str) -> RescueTargets:
        """What a rescue at this car opens with: the site's rescue settings (defaults for
        an unregistered site) and the car's contracted maintainer (None if unknown)."""

    async def has_device(self, device: DeviceRef) -> bool:
        """Whether the site's asset register has this device, of this device type."""

    async def register_device(
        self, site: str, building: str, device: Device, *, actor: str, at: datetime
    ) -> None:
        """Add ``device`` to ``building`` of ``site`` as an import would (audited);
        InvalidRequest for an unknown site or building or a device id taken already."""


class QuarantinedSender(Protocol):
    """What a decision needs of a quarantine entry."""

    @property
    def site(self) -> str: ...

    @property
    def device_type(self) -> str:
        """The wire's device type, or ``gateway``."""

    @property
    def device_id(self) -> str: ...


class QuarantineRepository(Protocol):
    async def note(self, sightings: Iterable[Sighting]) -> None:
        """Add ``sightings`` to their senders' entries, creating the entries not there."""

    async def entry(self, entry_id: int) -> QuarantinedSender:
        """The entry; NotFound when there is none."""

    async def decide(self, entry_id: int, decision: Decision, *, by: str, at: datetime) -> None:
        """Record an operator's decision (audited); InvalidRequest for an entry that is
        registered already."""

    async def add_gateway(self, site: str, gateway_id: str, *, by: str, at: datetime) -> None:
        """Put the gateway in ``site``'s register (audited; nothing if it is there);
        InvalidRequest for a site the register does not have."""


class PlanRepository(Protocol):
    """Plans are values: ``put`` writes one (new or changed) with the events to audit."""

    async def cars(self) -> list[PlannedCar]:
        """Every registered elevator, by site and device id."""

    async def car(self, asset: str) -> PlannedCar | None:
        """The registered elevator with this asset key, or None."""

    async def get(self, asset: str) -> Plan | None: ...

    async def for_site(self, site: str) -> list[Plan]: ...

    async def put(self, plan: Plan, events: Iterable[DomainEvent] = ()) -> None: ...

    async def limits(self, site: str) -> IntervalLimits:
        """The site's on-demand limits; the statutory 15 to 15 days when none were set."""

    async def set_limits(
        self, site: str, limits: IntervalLimits, events: Iterable[DomainEvent] = ()
    ) -> None: ...


class VisitRepository(Protocol):
    async def get(self, order_id: str) -> Visit | None:
        """The record of the visit whose work order is ``order_id``."""

    async def pending_for(self, asset: str) -> Visit | None:
        """The car's visit not yet recorded whose order is open; there is at most one."""

    async def put(self, visit: Visit) -> None:
        """Write the record (its order is stored by then) and audit its pending events."""


class InspectionRepository(Protocol):
    async def cars(self, sites: Collection[str] | None = None) -> list[CarInspection]:
        """Every elevator (of ``sites``; None: all) with its current certificate and the
        steps sent for it."""

    async def car(self, site: str, device_id: str) -> CarInspection | None:
        """One elevator, as :meth:`cars` gives it; None if the site has no such elevator."""

    async def add(self, car: DeviceRef, certificate: Certificate, *, by: str, at: datetime) -> None:
        """Record an inspection of ``car`` (``by``: the actor's audit name). NotFound for an
        unknown elevator, InvalidRequest when one on the same day is recorded already."""

    async def mark_sent(self, certificate_id: int, step: Step, at: datetime) -> None:
        """Record that ``step`` was sent for the certificate (once per certificate)."""


class PeopleDirectory(Protocol):
    async def worker(self, username: str) -> Worker | None:
        """The person with this username as a possible assignee; None if there is none."""


class UnitOfWork(Protocol):
    # Read-only, so an adapter may hold its own repository classes as plain attributes.
    @property
    def alarms(self) -> AlarmRepository: ...

    @property
    def work_orders(self) -> WorkOrderRepository: ...

    @property
    def proposals(self) -> ProposalRepository: ...

    @property
    def photos(self) -> PhotoRepository: ...

    @property
    def sites(self) -> SiteRepository: ...

    @property
    def plans(self) -> PlanRepository: ...

    @property
    def visits(self) -> VisitRepository: ...

    @property
    def inspections(self) -> InspectionRepository: ...

    @property
    def accounts(self) -> PeopleDirectory: ...

    @property
    def quarantine(self) -> QuarantineRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...
