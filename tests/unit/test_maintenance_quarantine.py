"""The quarantine's use cases on the in-memory unit of work: sightings fold into one
entry per sender; register puts a gateway or a device (with its own facts, in a known
building) in the register and decides the entry; block keeps it out; a registered entry
is decided for good. The SQL side: tests/integration/test_maintenance_quarantine_db.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from maintenance_fakes import FakeUnitOfWork

from maintenance.domain.errors import InvalidRequest, NotFound
from maintenance.domain.quarantine import Sighting
from maintenance.domain.signals import DeviceRef
from maintenance.services.quarantine import block, note_sightings, register
from maintenance.sites import ChargerCabinet, Elevator, SmokeAlarm

T0 = datetime(2026, 12, 7, 8, tzinfo=UTC)
GHOST = Elevator(
    name="ghost-lift-99",
    make="Monarch",
    model="NICE3000+",
    install_date=date(2026, 11, 30),
    rated_load_kg=1000,
    rated_speed_mps=1.75,
    floors_served=18,
)


def clock() -> datetime:
    return T0


async def heard(uow: FakeUnitOfWork, device_type: str, device_id: str, times: int = 1) -> int:
    seen = Sighting("demo", device_type, device_id, "gw-demo", T0, T0, 1, "sample")
    for _ in range(times):
        await note_sightings(uow, [seen])
    (entry_id,) = [i for i, e in uow.quarantine.entries.items() if e.device_id == device_id]
    return entry_id


async def test_a_senders_sightings_are_one_entry() -> None:
    uow = FakeUnitOfWork()
    ghost = await heard(uow, "elevator", "ghost-lift-99", times=3)
    assert uow.quarantine.entries[ghost].messages == 3
    assert len(uow.quarantine.entries) == 1
    assert uow.commits == 3


async def test_registering_a_gateway_needs_nothing_but_the_entry() -> None:
    uow = FakeUnitOfWork()
    spoof = await heard(uow, "gateway", "gw-b2")
    await register(uow, spoof, by="manager:li", clock=clock)
    assert uow.quarantine.gateways == {("demo", "gw-b2")}
    assert uow.quarantine.entries[spoof].state == "registered"
    with pytest.raises(InvalidRequest, match="registered already"):
        await block(uow, spoof, by="manager:li", clock=clock)


async def test_a_device_registers_with_its_own_facts_in_a_known_building() -> None:
    uow = FakeUnitOfWork()
    uow.sites.buildings["demo"] = {"B1"}
    ghost = await heard(uow, "elevator", "ghost-lift-99")
    refusals = [
        ({}, "needs its building and facts"),
        ({"building": "B1", "device": SmokeAlarm(name="smoke-1")}, "not smoke-1"),
        ({"building": "B1", "device": SmokeAlarm(name="ghost-lift-99")}, "not a smoke_alarm"),
        (
            {"building": "B1", "device": ChargerCabinet(name="ghost-lift-99", ports=8)},
            "not a charger_cabinet",
        ),
        ({"building": "B9", "device": GHOST}, "site demo has no building B9"),
    ]
    for given, reason in refusals:
        with pytest.raises(InvalidRequest, match=reason):
            await register(uow, ghost, by="manager:li", clock=clock, **given)
        assert uow.quarantine.entries[ghost].state == "held"
    assert uow.sites.devices == set()

    await register(uow, ghost, by="manager:li", clock=clock, building="B1", device=GHOST)
    assert uow.sites.devices == {DeviceRef("demo", "elevator", "ghost-lift-99")}
    assert uow.quarantine.entries[ghost].state == "registered"


async def test_blocking_keeps_the_entry_and_an_unknown_entry_is_not_found() -> None:
    uow = FakeUnitOfWork()
    spoof = await heard(uow, "gateway", "gw-spoof")
    await block(uow, spoof, by="admin:root", clock=clock)
    assert uow.quarantine.entries[spoof].state == "blocked"
    assert uow.quarantine.gateways == set()
    with pytest.raises(NotFound):
        await block(uow, 99, by="admin:root", clock=clock)
