"""Elevator inspections on a real SQLite file: the site file's certificates, recording a
new one, and the maintenance worker's periodic check under a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from maintenance import services
from maintenance.db.engine import make_engine, make_sessionmaker, open_engine
from maintenance.db.inspection_tables import InspectionRow
from maintenance.db.migrations import upgrade
from maintenance.db.read.inspections import inspected_cars
from maintenance.db.tables import AlarmRow, Asset, AuditRow, Base, WorkOrderRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.actors import Actor
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.inspections import Certificate, InspectionStatus
from maintenance.domain.signals import DeviceRef
from maintenance.domain.workorders import Status
from maintenance.settings import MaintenanceSettings
from maintenance.sites import load_site_file
from maintenance.worker import running_maintenance

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MANAGER = Actor("wang", "manager")
ELEV_01 = DeviceRef("demo", "elevator", "elev-01")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


async def import_demo(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with SqlUnitOfWork(sessions) as uow:
        await uow.sites.import_file(load_site_file(DEMO), actor="cli:test", at=T0, source="demo")
        await uow.commit()


async def test_the_site_file_s_inspections_are_each_car_s_certificate(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    await import_demo(sessions)
    await import_demo(sessions)  # once per inspection, however often imported
    async with sessions() as session:
        cars = {c.car.device_id: c for c in await inspected_cars(session, sites=("demo",))}
        assert len((await session.scalars(select(InspectionRow))).all()) == 6
    assert sorted(cars) == [f"elev-0{n}" for n in range(1, 7)]
    assert cars["elev-01"].certificate == Certificate(date(2026, 5, 20), date(2027, 5, 19))
    assert cars["elev-01"].building == "B1"
    assert cars["elev-01"].timezone == "Asia/Shanghai"


async def test_recording_an_inspection_makes_it_current_and_audits_it(
    engine: AsyncEngine,
) -> None:
    sessions = make_sessionmaker(engine)
    await import_demo(sessions)
    clock = Clock(datetime(2026, 12, 7, 3, tzinfo=UTC))
    newer = Certificate(date(2026, 12, 5), date(2027, 12, 4), "TSX-2026-0981")
    recorded = await services.record_inspection(
        SqlUnitOfWork(sessions), MANAGER, clock, site="demo", device_id="elev-01", certificate=newer
    )
    assert recorded.car.certificate == newer
    async with sessions() as session:
        asset = await session.scalar(select(Asset).where(Asset.device_id == "elev-01"))
    assert asset is not None
    assert asset.last_safety_inspection == date(2026, 12, 5)  # the committee's evidence
    with pytest.raises(InvalidRequest, match="elev-01: an inspection on 2026-12-05 is already"):
        await services.record_inspection(
            SqlUnitOfWork(sessions),
            MANAGER,
            clock,
            site="demo",
            device_id="elev-01",
            certificate=newer,
        )
    # An older file imported again pushes back neither the certificate nor the asset's date.
    await import_demo(sessions)
    async with sessions() as session:
        (car,) = await inspected_cars(session, sites=("demo",), device_id="elev-01")
        assert car.certificate == newer
        asset = await session.scalar(select(Asset).where(Asset.device_id == "elev-01"))
        assert asset is not None
        assert asset.last_safety_inspection == date(2026, 12, 5)
        audit = await session.scalar(
            select(AuditRow).where(AuditRow.action == "inspection.recorded")
        )
    assert audit is not None
    assert (audit.actor, audit.entity_id, audit.detail["certificate"]) == (
        "manager:wang",
        str(ELEV_01),
        "TSX-2026-0981",
    )


async def count(
    sessions: async_sessionmaker[AsyncSession], table: type[Base], **where: object
) -> int:
    async with sessions() as session:
        return len((await session.scalars(select(table).filter_by(**where))).all())


async def test_the_worker_opens_one_p2_order_at_expiry_and_a_new_inspection_ends_it(
    tmp_path: Path, db_url: str
) -> None:
    config = MaintenanceSettings(
        data_dir=tmp_path / "data",
        db_url=db_url,
        mqtt_port=1,  # no broker: the consumer keeps retrying while the scheduler runs
        client_id=f"maint-{tmp_path.name}",
        tick_interval=0.05,
        inspection_interval=0.05,
        migrate=True,
    )
    # elev-04's certificate (inspected 2026-02-11) ran to 2027-02-10 in Shanghai.
    asset = str(DeviceRef("demo", "elevator", "elev-04"))
    clock = Clock(datetime(2027, 2, 10, 17, tzinfo=UTC))  # 2027-02-11 01:00 there
    async with (
        running_maintenance(config, clock) as detection,
        open_engine(config.database_url) as db,
    ):
        sessions = make_sessionmaker(db)
        await import_demo(sessions)
        for _ in range(100):
            if await count(sessions, WorkOrderRow, asset=asset, fault_kind="inspection"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # several more checks: still one order, one alarm
        assert await count(sessions, WorkOrderRow, asset=asset, fault_kind="inspection") == 1
        expired = {"rule": "inspection_expired", "device_id": "elev-04"}
        assert await count(sessions, AlarmRow, **expired) == 1
        assert detection.counters.inspection_alarms >= 1

        renewed = Certificate(date(2027, 2, 11), date(2028, 2, 10), "TSX-2027-0044")
        result = await services.record_inspection(
            SqlUnitOfWork(sessions),
            MANAGER,
            clock,
            site="demo",
            device_id="elev-04",
            certificate=renewed,
        )
        assert result.cancelled is not None
        assert result.cancelled.status is Status.CANCELLED
        await asyncio.sleep(0.3)  # more checks after the new certificate
        async with sessions() as session:
            alarms = (await session.scalars(select(AlarmRow).filter_by(device_id="elev-04"))).all()
            (car,) = await inspected_cars(session, sites=("demo",), device_id="elev-04")
        assert [(a.rule, a.cleared_at is not None) for a in alarms] == [
            ("inspection_expired", True)
        ]
        assert car.status(clock.now) is InspectionStatus.VALID
        assert await count(sessions, WorkOrderRow, asset=asset, fault_kind="inspection") == 1
        # elev-06's certificate ran out in 2026 (the demo's overdue car): its order stays open.
        assert await count(sessions, WorkOrderRow, fault_kind="inspection", status="new") == 1
