"""In-memory unit of work for the maintenance service tests (the port's fake adapter).

Objects are kept by reference, so changes made through their methods are "stored" at
once; ``commits`` counts commits so tests can tell a committed unit from a rolled-back one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from maintenance.db.read.assets import DEVICE_TYPE_OF_KIND
from maintenance.domain.alarms import Alarm
from maintenance.domain.errors import InvalidRequest, NotFound
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
from maintenance.sites import Device, RescuePolicy


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class FakeAlarms:
    def __init__(self) -> None:
        self.items: dict[str, Alarm] = {}

    async def add(self, alarm: Alarm) -> None:
        self.items[alarm.id] = alarm

    async def get(self, alarm_id: str) -> Alarm | None:
        return self.items.get(alarm_id)

    async def active_for(self, device: DeviceRef, rule: str) -> Alarm | None:
        found = [
            a for a in self.items.values() if a.active and (a.device, a.rule) == (device, rule)
        ]
        assert len(found) <= 1, f"two active alarms for {device} {rule}"
        return found[0] if found else None


class FakeWorkOrders:
    def __init__(self) -> None:
        self.items: dict[str, WorkOrder] = {}
        self.numbers: dict[int, int] = {}

    async def add(self, order: WorkOrder) -> None:
        self.items[order.id] = order

    async def get(self, order_id: str) -> WorkOrder | None:
        return self.items.get(order_id)

    async def open_for(self, asset: str, fault_kind: str) -> WorkOrder | None:
        found = [o for o in self._of(asset, fault_kind) if o.is_open]
        assert len(found) <= 1, f"two open orders for {asset} {fault_kind}"
        return found[0] if found else None

    async def last_closed_for(self, asset: str, fault_kind: str) -> WorkOrder | None:
        closed = [o for o in self._of(asset, fault_kind) if o.closed_at is not None]
        return max(closed, key=lambda o: o.closed_at or o.created_at, default=None)

    async def needing_sla_check(self, sites: Collection[str] | None = None) -> list[WorkOrder]:
        return sorted(
            (o for o in self.items.values() if o.is_open and (sites is None or o.site in sites)),
            key=lambda o: o.created_at,
        )

    async def with_stale_due_times(self) -> list[WorkOrder]:
        return []  # stores no due times

    async def next_number(self, year: int) -> int:
        self.numbers[year] = self.numbers.get(year, 0) + 1
        return self.numbers[year]

    def _of(self, asset: str, fault_kind: str) -> list[WorkOrder]:
        return [o for o in self.items.values() if (o.asset, o.fault_kind) == (asset, fault_kind)]


class FakeProposals:
    def __init__(self, asset_ids: frozenset[int] = frozenset()) -> None:
        self.items: dict[str, SpendingProposal] = {}
        self.asset_ids = asset_ids

    async def add(self, proposal: SpendingProposal) -> None:
        self.items[proposal.id] = proposal

    async def get(self, proposal_id: str) -> SpendingProposal | None:
        return self.items.get(proposal_id)

    async def asset_exists(self, asset_id: int) -> bool:
        return asset_id in self.asset_ids


class FakePhotos:
    def __init__(self) -> None:
        self.items: dict[str, Photo] = {}

    async def add(self, photo: Photo) -> None:
        self.items[photo.id] = photo


class FakeSites:
    """Rescue settings per site (defaults for the rest), contractors per device id, and
    the devices in the register."""

    def __init__(self) -> None:
        self.policies: dict[str, RescuePolicy] = {}
        self.contractors: dict[str, str] = {}
        self.devices: set[DeviceRef] = set()
        self.buildings: dict[str, set[str]] = {}

    async def rescue_targets(self, site: str, device_id: str) -> RescueTargets:
        policy = self.policies.get(site, RescuePolicy())
        return policy.targets(self.contractors.get(device_id))

    async def has_device(self, device: DeviceRef) -> bool:
        return device in self.devices

    async def register_device(
        self, site: str, building: str, device: Device, *, actor: str, at: datetime
    ) -> None:
        if building not in self.buildings.get(site, ()):
            raise InvalidRequest(f"site {site} has no building {building}")
        self.devices.add(DeviceRef(site, DEVICE_TYPE_OF_KIND[device.kind], device.name))


@dataclass
class FakeEntry:
    site: str
    device_type: str
    device_id: str
    messages: int = 0
    state: str = "held"


class FakeQuarantine:
    """Entries by id; the gateways registered per site."""

    def __init__(self) -> None:
        self.entries: dict[int, FakeEntry] = {}
        self.gateways: set[tuple[str, str]] = set()

    async def note(self, sightings: Iterable[Sighting]) -> None:
        for seen in sightings:
            key = (seen.site, seen.device_type, seen.device_id)
            entry = next(
                (e for e in self.entries.values() if (e.site, e.device_type, e.device_id) == key),
                None,
            )
            if entry is None:
                entry = self.entries[len(self.entries) + 1] = FakeEntry(*key)
            entry.messages += seen.messages

    async def entry(self, entry_id: int) -> FakeEntry:
        if entry_id not in self.entries:
            raise NotFound(f"no quarantine entry {entry_id}")
        return self.entries[entry_id]

    async def decide(self, entry_id: int, decision: Decision, *, by: str, at: datetime) -> None:
        entry = await self.entry(entry_id)
        if entry.state == "registered":
            raise InvalidRequest(f"quarantine entry {entry_id} is registered already")
        entry.state = decision

    async def add_gateway(self, site: str, gateway_id: str, *, by: str, at: datetime) -> None:
        self.gateways.add((site, gateway_id))


class FakePlans:
    def __init__(self) -> None:
        self.cars_registered: list[PlannedCar] = []
        self.items: dict[str, Plan] = {}
        self.site_limits: dict[str, IntervalLimits] = {}
        self.events: list[DomainEvent] = []

    async def cars(self) -> list[PlannedCar]:
        return list(self.cars_registered)

    async def car(self, asset: str) -> PlannedCar | None:
        return next((car for car in self.cars_registered if car.asset == asset), None)

    async def get(self, asset: str) -> Plan | None:
        return self.items.get(asset)

    async def for_site(self, site: str) -> list[Plan]:
        return [plan for plan in self.items.values() if plan.site == site]

    async def put(self, plan: Plan, events: Iterable[DomainEvent] = ()) -> None:
        self.items[plan.asset] = plan
        self.events += events

    async def limits(self, site: str) -> IntervalLimits:
        return self.site_limits.get(site, IntervalLimits())

    async def set_limits(
        self, site: str, limits: IntervalLimits, events: Iterable[DomainEvent] = ()
    ) -> None:
        self.site_limits[site] = limits
        self.events += events


class FakeVisits:
    def __init__(self, orders: FakeWorkOrders) -> None:
        self.items: dict[str, Visit] = {}
        self.events: list[DomainEvent] = []
        self._orders = orders

    async def get(self, order_id: str) -> Visit | None:
        return self.items.get(order_id)

    async def pending_for(self, asset: str) -> Visit | None:
        found = [
            v
            for v in self.items.values()
            if v.asset == asset and not v.recorded and self._orders.items[v.order_id].is_open
        ]
        assert len(found) <= 1, f"two pending visits for {asset}"
        return found[0] if found else None

    async def put(self, visit: Visit) -> None:
        self.items[visit.order_id] = visit
        self.events += visit.pull_events()


class FakeInspections:
    """Cars by (site, device id) and their certificates, numbered from 1; a car's current
    certificate is its latest by inspection date."""

    def __init__(self, *cars: CarInspection) -> None:
        self.cars_by_key = {(c.car.site, c.car.device_id): c for c in cars}
        self.certificates: dict[int, tuple[tuple[str, str], Certificate]] = {}
        self.steps: list[tuple[int, Step, datetime]] = []

    async def cars(self, sites: Collection[str] | None = None) -> list[CarInspection]:
        return [self._current(key) for key in self.cars_by_key if sites is None or key[0] in sites]

    async def car(self, site: str, device_id: str) -> CarInspection | None:
        key = (site, device_id)
        return self._current(key) if key in self.cars_by_key else None

    async def add(self, car: DeviceRef, certificate: Certificate, *, by: str, at: datetime) -> None:
        key = (car.site, car.device_id)
        if key not in self.cars_by_key:
            raise NotFound(f"no elevator {car.device_id} at site {car.site}")
        self.certificates[len(self.certificates) + 1] = (key, certificate)

    async def mark_sent(self, certificate_id: int, step: Step, at: datetime) -> None:
        assert all((i, s) != (certificate_id, step) for i, s, _ in self.steps), "sent twice"
        self.steps.append((certificate_id, step, at))

    def _current(self, key: tuple[str, str]) -> CarInspection:
        car = self.cars_by_key[key]
        mine = [(c.inspected_on, i) for i, (owner, c) in self.certificates.items() if owner == key]
        if not mine:
            return car
        latest = max(mine)[1]
        sent = frozenset(s for i, s, _ in self.steps if i == latest)
        certificate = self.certificates[latest][1]
        return replace(car, certificate=certificate, certificate_id=latest, sent=sent)


class FakeAccounts:
    """The people who may be given orders, by username (tests add them)."""

    def __init__(self, *people: Worker) -> None:
        self.people = {person.username: person for person in people}

    async def worker(self, username: str) -> Worker | None:
        return self.people.get(username)


class FakeUnitOfWork:
    def __init__(self, *people: Worker) -> None:
        self.alarms = FakeAlarms()
        self.work_orders = FakeWorkOrders()
        self.proposals = FakeProposals()
        self.photos = FakePhotos()
        self.sites = FakeSites()
        self.plans = FakePlans()
        self.visits = FakeVisits(self.work_orders)
        self.inspections = FakeInspections()
        self.accounts = FakeAccounts(*people)
        self.quarantine = FakeQuarantine()
        self.commits = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        self.commits += 1

    async def rollback(self) -> None:
        return None
