"""The maintenance database on a real SQLite file: engine, site import, audit trail.

The migrations are tested in test_maintenance_migrations.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from maintenance.db.audit import append, history, verify
from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import (
    upgrade,
)
from maintenance.db.read.sites import get_site, list_sites, site_places
from maintenance.db.tables import Asset, AuditRow, Building
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.audit import AuditEntry
from maintenance.domain.errors import NotFound
from maintenance.sites import SiteFile, load_site_file, validate_site

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with make_sessionmaker(engine)() as session:
        yield session


def entry(n: int, **changes: object) -> AuditEntry:
    fields: dict[str, object] = {
        "at": T0 + timedelta(seconds=n),
        "actor": "technician:wang",
        "action": "work_order.progressed",
        "entity_type": "work_order",
        "entity_id": f"WO-2026-{n:06d}",
        "from_state": "assigned",
        "to_state": "in_progress",
        "reason": "on site",
        "detail": {"n": n, "note": "door operator replaced", "cost": 1250.5},
    } | changes
    return AuditEntry(**fields)  # type: ignore[arg-type]


async def import_file(engine: AsyncEngine, site: SiteFile, source: str = "site.yaml") -> str:
    async with SqlUnitOfWork(make_sessionmaker(engine)) as uow:
        report = await uow.sites.import_file(site, actor="cli:test", at=T0, source=source)
        await uow.commit()
    return str(report)


# --- engine -------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await connection.exec_driver_sql("PRAGMA synchronous")).scalar() == 1  # NORMAL
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            await connection.execute(text("INSERT INTO building (site_id, code) VALUES (99, 'B9')"))


async def test_a_read_only_engine_reads_what_was_committed_and_cannot_write(
    db_url: str, engine: AsyncEngine
) -> None:
    reader = make_engine(db_url, read_only=True)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO site (code, name) VALUES ('s1', 'One')"))
        for _ in range(2):  # the second time on the pool's connection, not a fresh one
            async with reader.connect() as connection:
                found = await connection.execute(text("SELECT name FROM site WHERE code = 's1'"))
                assert found.scalar() == "One"
                with pytest.raises(DBAPIError, match=r"read-only|readonly"):
                    await connection.execute(text("UPDATE site SET name = 'Two'"))
        async with engine.connect() as connection:
            found = await connection.execute(text("SELECT name FROM site WHERE code = 's1'"))
            assert found.scalar() == "One"
    finally:
        await reader.dispose()


# --- site import ------------------------------------------------------------------------


async def test_the_demo_site_imports_once_however_often_it_is_imported(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    site = load_site_file(DEMO)
    assert await import_file(engine, site) == "site demo: 73 created, 0 updated, 0 unchanged"
    assert await import_file(engine, site) == "site demo: 0 created, 0 updated, 73 unchanged"

    kinds = dict(
        (await session.execute(select(Asset.kind, func.count()).group_by(Asset.kind))).all()
    )
    assert kinds == {"elevator": 6, "charger_cabinet": 2, "smoke_alarm": 60}
    oldest = await session.scalar(select(Asset).where(Asset.device_id == "elev-06"))
    assert oldest is not None
    assert (oldest.install_date, oldest.floors_served, oldest.rated_speed_mps) == (
        date(2004, 11, 1),
        18,
        2.5,
    )
    # one audit entry per created row (site, 3 buildings, 68 assets, the gateway), none
    # for re-imports
    assert (await verify(session)).entries == 73


async def test_a_corrected_site_file_updates_in_place_and_audits_old_and_new(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    raw = yaml.safe_load(DEMO.read_text())
    await import_file(engine, validate_site(raw, "v1.yaml"))

    car = raw["buildings"][0]["elevators"].pop(0)  # elev-01 moves from B1 to B2 ...
    car["rated_load_kg"] = 1100  # ... and had its load wrong
    raw["buildings"][1]["elevators"].append(car)
    raw["buildings"][2]["smoke_alarms"].pop()  # smoke-060 left out of the file
    report = await import_file(engine, validate_site(raw, "v2.yaml"), source="v2.yaml")
    assert report == (
        "site demo: 0 created, 1 updated, 71 unchanged;"
        " in the database but not in the file: asset demo/smoke-060"
    )

    moved = await session.scalar(select(Asset).where(Asset.device_id == "elev-01"))
    b2 = await session.scalar(select(Building).where(Building.code == "B2"))
    assert moved is not None
    assert b2 is not None
    assert (moved.building_id, moved.rated_load_kg) == (b2.id, 1100)
    assert await session.scalar(select(func.count()).select_from(Asset)) == 68
    created, updated = await history(session, "asset", "demo/elev-01")
    assert created.action == "asset.created"
    assert (updated.action, updated.actor, updated.reason) == (
        "asset.updated",
        "cli:test",
        "imported from site file v2.yaml",
    )
    assert updated.detail == {"building": ["B1", "B2"], "rated_load_kg": [1000, 1100]}


# --- audit trail ------------------------------------------------------------------------


async def append_all(session: AsyncSession, entries: list[AuditEntry]) -> list[int]:
    async with session.begin():
        return [(await append(session, item)).id for item in entries]


async def test_the_trail_reads_back_as_it_was_sealed(session: AsyncSession) -> None:
    await append_all(session, [entry(n) for n in range(3)])
    report = await verify(session)
    assert (report.intact, report.entries) == (True, 3)
    assert str(report) == f"audit trail intact: 3 entries, head {report.head}"
    assert await history(session, "work_order", "WO-2026-000001") == [entry(1)]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log"]
)
async def test_the_database_refuses_to_change_audit_rows(
    session: AsyncSession, statement: str
) -> None:
    await append_all(session, [entry(0)])
    with pytest.raises(IntegrityError, match="audit_log is append-only"):
        async with session.begin():
            await session.execute(text(statement))
    assert (await verify(session)).entries == 1


async def drop_guards(session: AsyncSession) -> None:
    # What someone with direct SQL access would have to do first (the triggers of r0001).
    if session.bind.dialect.name == "postgresql":
        guards = ["audit_log_no_change ON audit_log", "audit_log_no_truncate ON audit_log"]
    else:
        guards = ["audit_log_no_update", "audit_log_no_delete"]
    async with session.begin():
        for guard in guards:
            await session.execute(text(f"DROP TRIGGER {guard}"))


async def test_a_tampered_row_is_the_first_broken_link(session: AsyncSession) -> None:
    ids = await append_all(session, [entry(n) for n in range(5)])
    await drop_guards(session)
    async with session.begin():
        await session.execute(
            text("UPDATE audit_log SET reason = 'never there' WHERE id = :id"), {"id": ids[2]}
        )
        await session.execute(
            text("UPDATE audit_log SET actor = 'someone else' WHERE id = :id"), {"id": ids[3]}
        )
    session.expunge_all()

    report = await verify(session)
    assert report.broken is not None
    assert (report.broken_row_id, report.broken.field, report.entries) == (ids[2], "hash", 3)
    stored = await session.scalar(select(AuditRow.hash).where(AuditRow.id == ids[2]))
    assert report.broken.found == stored
    assert str(report).startswith(f"audit trail broken at row id {ids[2]} (entry 3 ")


async def test_a_deleted_row_breaks_the_link_after_it(session: AsyncSession) -> None:
    ids = await append_all(session, [entry(n) for n in range(4)])
    await drop_guards(session)
    async with session.begin():
        await session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})

    report = await verify(session)
    assert report.broken is not None
    assert (report.broken_row_id, report.broken.field) == (ids[2], "prev_hash")


async def test_concurrent_writers_extend_one_chain(db_url: str, engine: AsyncEngine) -> None:
    # A second engine has its own connections, like a second process on the same database.
    other = make_engine(db_url)

    async def writer(engine: AsyncEngine, first: int) -> None:
        for n in range(first, first + 15):
            async with make_sessionmaker(engine)() as session, session.begin():
                await append(session, entry(n))
                await asyncio.sleep(0)  # let the other writer try to get in between

    try:
        await asyncio.gather(writer(engine, 0), writer(other, 100), writer(engine, 200))
    finally:
        await other.dispose()
    async with make_sessionmaker(engine)() as session:
        report = await verify(session)
    assert (report.intact, report.entries) == (True, 45)


async def test_the_site_time_zone_is_stored_read_and_updated_by_a_new_import(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    raw = yaml.safe_load(DEMO.read_text())
    await import_file(engine, validate_site(raw, "v1.yaml"))
    site = await get_site(session, "demo")
    assert (site.name, site.timezone) == (raw["name"], "Asia/Shanghai")
    await session.rollback()  # end the read, so the next import can write

    report = await import_file(engine, validate_site(raw | {"timezone": "Asia/Urumqi"}, "v2.yaml"))
    assert report == "site demo: 0 created, 1 updated, 72 unchanged"
    assert (await get_site(session, "demo")).timezone == "Asia/Urumqi"
    assert [s.code for s in await list_sites(session)] == ["demo"]
    with pytest.raises(NotFound, match="no site 'nowhere'"):
        await get_site(session, "nowhere")


async def test_the_site_places_are_its_buildings_with_their_elevator_cars(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    await import_file(engine, load_site_file(DEMO))
    places = await site_places(session, "demo")
    assert [(b.code, b.name) for b in places] == [
        ("B1", "Building 1"),
        ("B2", "Building 2"),
        ("B3", "Building 3"),
    ]
    cars = {b.code: [car.device_id for car in b.elevators] for b in places}
    assert cars == {
        "B1": ["elev-01", "elev-04"],
        "B2": ["elev-02", "elev-05"],
        "B3": ["elev-03", "elev-06"],
    }
    assert places[0].elevators[0].location == "low-zone lift, east (1-11F)"
    with pytest.raises(NotFound):
        await site_places(session, "nowhere")
