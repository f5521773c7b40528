"""Inspection reminders and the expiry's work order under a fake clock (in-memory unit)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from maintenance_fakes import FakeClock, FakeInspections, FakeUnitOfWork

from maintenance.domain.actors import Actor
from maintenance.domain.errors import InvalidRequest, NotFound
from maintenance.domain.inspections import CarInspection, Certificate
from maintenance.domain.signals import DeviceRef
from maintenance.domain.workorders import Status
from maintenance.services import check_inspections, record_inspection

CAR = DeviceRef("demo", "elevator", "elev-01")
MANAGER = Actor("wang", "manager")
FIRST = Certificate(date(2026, 5, 20), date(2027, 5, 19), "TSX-2026-0117")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    unit = FakeUnitOfWork()
    unit.inspections = FakeInspections(CarInspection(CAR, "B1", "east lift", "Asia/Shanghai"))
    return unit


async def _record(uow: FakeUnitOfWork, clock: FakeClock, certificate: Certificate) -> None:
    await record_inspection(
        uow, MANAGER, clock, site="demo", device_id="elev-01", certificate=certificate
    )


async def _check_every_6_hours(uow: FakeUnitOfWork, clock: FakeClock, until: datetime) -> None:
    while clock.now < until:
        await check_inspections(uow, clock)
        clock.advance(hours=6)


def _raised(uow: FakeUnitOfWork) -> list[tuple[str, datetime]]:
    return sorted(((a.rule, a.raised_at) for a in uow.alarms.items.values()), key=lambda r: r[1])


async def test_reminders_30_and_7_days_before_and_one_p2_order_at_expiry(
    uow: FakeUnitOfWork,
) -> None:
    clock = FakeClock(datetime(2026, 5, 20, 2, tzinfo=UTC))
    await _record(uow, clock, FIRST)
    clock.now = datetime(2027, 3, 1, 1, tzinfo=UTC)
    await _check_every_6_hours(uow, clock, datetime(2027, 7, 1, tzinfo=UTC))

    # Each step once, on the first check of its day in Shanghai (UTC+8: 16:00 the day before).
    assert _raised(uow) == [
        ("inspection_due_30", datetime(2027, 4, 18, 19, tzinfo=UTC)),
        ("inspection_due_7", datetime(2027, 5, 11, 19, tzinfo=UTC)),
        ("inspection_expired", datetime(2027, 5, 19, 19, tzinfo=UTC)),
    ]
    alarms = {a.rule: a for a in uow.alarms.items.values()}
    # Only the latest is active: a reminder clears when the next step comes.
    assert [rule for rule, a in alarms.items() if a.active] == ["inspection_expired"]
    assert alarms["inspection_due_30"].cleared_at == alarms["inspection_due_7"].raised_at
    # Reminders are notices; the expiry opened exactly one P2 order.
    (order,) = uow.work_orders.items.values()
    assert (order.priority, order.fault_kind, order.asset) == ("P2", "inspection", str(CAR))
    assert order.alarm_ids == [alarms["inspection_expired"].id]
    assert alarms["inspection_due_30"].work_order_id is None


async def test_a_new_inspection_clears_the_expiry_and_cancels_its_order(
    uow: FakeUnitOfWork,
) -> None:
    clock = FakeClock(datetime(2026, 5, 20, 2, tzinfo=UTC))
    await _record(uow, clock, FIRST)
    clock.now = datetime(2027, 5, 25, 1, tzinfo=UTC)
    await check_inspections(uow, clock)
    (order,) = uow.work_orders.items.values()
    (expired,) = uow.alarms.items.values()
    assert expired.rule == "inspection_expired"
    assert expired.active

    clock.advance(days=2)
    second = Certificate(date(2027, 5, 26), date(2028, 5, 25), "TSX-2027-0342")
    await _record(uow, clock, second)

    assert not expired.active
    assert order.status is Status.CANCELLED
    assert order.cancel_reason == (
        "inspection on 2027-05-26 recorded: certificate TSX-2027-0342 valid until 2028-05-25"
    )
    # The next year runs on the new certificate: its own reminders, nothing more till then.
    await _check_every_6_hours(uow, clock, datetime(2028, 4, 1, tzinfo=UTC))
    assert len(uow.alarms.items) == 1
    assert len(uow.work_orders.items) == 1
    await _check_every_6_hours(uow, clock, datetime(2028, 5, 1, tzinfo=UTC))
    assert _raised(uow)[-1] == ("inspection_due_30", datetime(2028, 4, 24, 19, tzinfo=UTC))


async def test_an_order_already_resolved_is_left_to_its_verification(
    uow: FakeUnitOfWork,
) -> None:
    clock = FakeClock(datetime(2027, 5, 25, 1, tzinfo=UTC))
    await _record(uow, clock, FIRST)
    await check_inspections(uow, clock)
    (order,) = uow.work_orders.items.values()
    tech = Actor("li", "technician")
    order.assign(MANAGER, clock.now, assignee="li")
    order.acknowledge(tech, clock.now)
    order.resolve(tech, clock.now, approval_threshold=Decimal(5000))
    await _record(uow, clock, Certificate(date(2027, 5, 25), date(2028, 5, 24)))
    assert order.status is Status.RESOLVED


async def test_a_certificate_recorded_late_gets_only_the_step_it_is_in(
    uow: FakeUnitOfWork,
) -> None:
    clock = FakeClock(datetime(2027, 5, 14, 1, tzinfo=UTC))
    await _record(uow, clock, FIRST)  # 5 days left
    await _check_every_6_hours(uow, clock, datetime(2027, 5, 18, tzinfo=UTC))
    assert [rule for rule, _ in _raised(uow)] == ["inspection_due_7"]
    assert not uow.work_orders.items


async def test_bad_records_are_refused_naming_what_is_wrong(uow: FakeUnitOfWork) -> None:
    clock = FakeClock(datetime(2026, 12, 7, 3, tzinfo=UTC))
    with pytest.raises(InvalidRequest, match=r"inspected_on 2026-12-08 is in the future"):
        await _record(uow, clock, Certificate(date(2026, 12, 8), date(2027, 12, 7)))
    with pytest.raises(NotFound, match="no elevator elev-99 at site demo"):
        await record_inspection(
            uow, MANAGER, clock, site="demo", device_id="elev-99", certificate=FIRST
        )


async def test_a_fleet_is_checked_a_few_cars_a_transaction() -> None:
    """A city's check commits ``batch`` cars at a time (one transaction for thousands held
    the audit trail's lock, and so the telemetry's alarms, on PostgreSQL), and each car
    gets what one transaction gave it."""
    cars = [DeviceRef("demo", "elevator", f"elev-0{n}") for n in range(1, 6)]
    uow = FakeUnitOfWork()
    uow.inspections = FakeInspections(
        *(CarInspection(c, "B1", None, "Asia/Shanghai") for c in cars)
    )
    clock = FakeClock(datetime(2026, 5, 20, 2, tzinfo=UTC))
    for car in cars:
        await record_inspection(
            uow, MANAGER, clock, site="demo", device_id=car.device_id, certificate=FIRST
        )
    clock.now = datetime(2027, 5, 25, 1, tzinfo=UTC)  # every certificate has expired
    before = uow.commits

    await check_inspections(uow, clock, batch=2)

    assert uow.commits - before == 3  # five cars: two, two, one
    expired = sorted(str(a.device) for a in uow.alarms.items.values() if a.active)
    assert expired == [str(car) for car in cars]
    assert len(uow.work_orders.items) == 5
