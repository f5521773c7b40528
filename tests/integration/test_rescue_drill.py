"""A rescue drill end to end, on simulated time: the simulator's entrapment fault, read
through the car's registers and the gateway's derived signals, raises the entrapment
rule; the maintenance service opens a rescue order (SQLite, the demo compound's rescue
settings); with nobody arriving the chain escalates exactly once per step as the clock
advances; ``arrive`` stops it; release and back-in-service end it. A second drill is
marked a false alarm.

The pieces are the deployed ones (``simulators.elevator``, the catalogue codec,
``gateway.derive``, the rule engine, ``maintenance.services`` over ``SqlUnitOfWork``),
driven in one process on a clock the test advances, so 90 minutes take no time.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from people_support import add_technicians

from estatewatch.catalogue import Table, builtin_catalogue, decode_field
from gateway.derive import ElevatorSignals
from maintenance import services
from maintenance.config_files import DEFAULT_RULES, load_rules
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain import commands as cmd
from maintenance.domain.actors import Actor
from maintenance.domain.observations import TelemetryReading
from maintenance.domain.rescue import Stage
from maintenance.domain.rules import RuleEngine
from maintenance.domain.signals import DeviceRef
from maintenance.domain.sla import SlaPolicy
from maintenance.domain.workorders import Status, WorkOrder
from maintenance.sites import load_site_file
from simulators.elevator import Elevator

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
POLICY = SlaPolicy()
DUTY = Actor("duty-1", "manager")
TECH = Actor("tech-1", "technician")


class SimClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Drill:
    """One simulated car polled like the gateway does, judged like maintenance does."""

    def __init__(self, uow: SqlUnitOfWork, device_id: str, clock: SimClock) -> None:
        self.uow, self.clock = uow, clock
        self.car_ref = DeviceRef("demo", "elevator", device_id)
        profile = builtin_catalogue()["elevator-nice3000"]
        self.car = Elevator(device_id, profile, random.Random(4), clock.now.timestamp())
        self.fields = [f for f in profile.fields if f.table is Table.HOLDING]
        self.signals = ElevatorSignals()
        self.engine = RuleEngine(load_rules(DEFAULT_RULES), clock)

    async def poll(self, seconds: int) -> WorkOrder | None:
        """Poll once a second for ``seconds``; the rescue order if one opened."""
        opened = None
        for _ in range(seconds):
            self.clock.now += timedelta(seconds=1)
            t = self.clock.now.timestamp()
            self.car.step(t)
            values = {
                f.key: decode_field(f, self.car.read(f.table, f.address, f.length))
                for f in self.fields
            }
            derived = self.signals.update(t, values)
            reading = TelemetryReading(
                self.car_ref, "B1", self.clock.now, {**values, **derived.fields}
            )
            for signal in self.engine.observe(reading):
                outcome = await services.handle_signal(self.uow, signal, self.clock)
                opened = outcome.work_order or opened
        return opened

    async def escalations_at(self, minutes: float, since: datetime) -> list[tuple[int, str]]:
        self.clock.now = since + timedelta(minutes=minutes)
        check = await services.check_slas(self.uow, POLICY, self.clock)
        return [(e.level, e.notify) for e in check.escalations if e.clock == "rescue"]

    async def act(self, command: cmd.OrderCommand, actor: Actor = TECH) -> WorkOrder:
        return (await services.perform(self.uow, command, actor, self.clock, POLICY)).order


@pytest.fixture
async def uow(tmp_path: Path) -> AsyncIterator[SqlUnitOfWork]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'drill.db'}")
    await upgrade(engine)
    unit = SqlUnitOfWork(make_sessionmaker(engine), sla=POLICY)
    async with unit:
        await unit.sites.import_file(load_site_file(DEMO), actor="cli:test", at=T0, source="t")
        await unit.commit()
    await add_technicians(make_sessionmaker(engine), TECH.user_id)  # who orders go to
    yield unit
    await engine.dispose()


async def test_an_entrapment_drill_from_the_fault_to_back_in_service(uow: SqlUnitOfWork) -> None:
    clock = SimClock()
    drill = Drill(uow, "elev-01", clock)
    assert await drill.poll(60) is None  # normal running: no rescue
    drill.car.inject("entrapment", {"load_pct": 22.5})
    assert await drill.poll(29) is None  # the rule waits 30 s
    order = await drill.poll(5)
    assert order is not None, "the entrapment rule opened no order"
    reported = order.created_at
    assert (order.category, order.priority, order.fault_kind) == ("rescue", "P1", "entrapment")
    assert order.rescue is not None
    assert order.rescue.targets.arrive_within == timedelta(minutes=30)  # a city area
    assert order.rescue.targets.contracted_maintainer == "Harmony Lift Services Co., Ltd."

    order = await drill.act(cmd.Assign(order.id, TECH.user_id), DUTY)
    order = await drill.act(cmd.Acknowledge(order.id))
    # Nobody arrives: check every minute for 50 minutes; each step of the chain once.
    sent: list[tuple[int, str]] = []
    for minute in range(1, 51):
        sent += await drill.escalations_at(minute, reported)
    assert sent == [(1, "backup_maintainer"), (2, "emergency_services")]
    escalated = await drill.act(cmd.Comment(order.id, "backup team called"), DUTY)
    told = [(e.level, e.at - reported) for e in escalated.escalations if e.clock == "rescue"]
    assert told == [(1, timedelta(minutes=31)), (2, timedelta(minutes=46))]

    clock.now = reported + timedelta(minutes=52)
    arrived = await drill.act(cmd.Arrive(order.id, 31.2304, 121.4737))
    assert arrived.rescue is not None
    assert arrived.rescue.stage is Stage.ARRIVED
    for minute in range(53, 120, 5):
        assert await drill.escalations_at(minute, reported) == []
    clock.now = reported + timedelta(minutes=60)
    await drill.act(cmd.Release(order.id, "two passengers out, unhurt"))
    drill.car.clear("entrapment")
    await drill.poll(10)  # the car re-levels; the alarm clears, the order stays
    done = await drill.act(cmd.ReturnToService(order.id, "safety circuit checked"))
    assert done.status is Status.RESOLVED
    assert done.rescue is not None
    assert done.rescue.stage is Stage.BACK_IN_SERVICE
    assert done.rescue.arrival_time == timedelta(minutes=52)
    assert done.rescue.rescue_duration == timedelta(minutes=60)
    clock.now += timedelta(hours=2)
    check = await services.check_slas(uow, POLICY, clock)
    assert [e for e in check.escalations if e.clock == "rescue"] == []


async def test_a_drill_that_was_a_false_alarm(uow: SqlUnitOfWork) -> None:
    clock = SimClock()
    drill = Drill(uow, "elev-02", clock)
    await drill.poll(30)
    drill.car.inject("entrapment", {"load_pct": 8.0})
    order = await drill.poll(40)
    assert order is not None
    clock.now += timedelta(minutes=6)
    ended = await drill.act(cmd.FalseAlarm(order.id, "maintenance test of the alarm button"), DUTY)
    assert ended.status is Status.CANCELLED
    assert ended.rescue is not None
    assert ended.rescue.stage is Stage.FALSE_ALARM
    assert ended.rescue.false_alarm_reason == "maintenance test of the alarm button"
    async with uow:
        stored = await uow.work_orders.get(order.id)
    assert stored is not None
    assert stored.rescue is not None
    assert stored.rescue.stage is Stage.FALSE_ALARM
    assert await drill.escalations_at(90, order.created_at) == []
