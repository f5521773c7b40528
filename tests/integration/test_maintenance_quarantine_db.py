"""The quarantine on a real database: the site file's gateways, sightings folded into
entries, and an operator's block or register (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from maintenance.db.engine import make_engine, make_sessionmaker
from maintenance.db.migrations import upgrade
from maintenance.db.read.quarantine import known_senders, quarantine_entries
from maintenance.db.tables import AuditRow
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.errors import InvalidRequest, NotFound
from maintenance.domain.quarantine import Sighting
from maintenance.services.quarantine import block, note_sightings, register
from maintenance.sites import Elevator, SmokeAlarm, load_site_file

pytestmark = pytest.mark.integration

DEMO = Path(__file__).parents[2] / "infra" / "sites" / "demo-compound.yaml"
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine: AsyncEngine = make_engine(db_url)
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    async with SqlUnitOfWork(sessions) as uow:
        await uow.sites.import_file(load_site_file(DEMO), actor="cli:test", at=T0, source="demo")
        await uow.commit()
    yield sessions
    await engine.dispose()


def seen(device_type: str, device_id: str, at: datetime, gateway: str = "gw-demo") -> Sighting:
    return Sighting("demo", device_type, device_id, gateway, at, at, 1, f"sample at {at}")


async def entries(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[int, str]]:
    async with sessions() as session:
        found = await quarantine_entries(session, states=("held", "blocked", "registered"))
    return {f"{e.device_type}/{e.device_id}": (e.messages, e.state) for e in found}


async def entry_id(sessions: async_sessionmaker[AsyncSession], device_id: str) -> int:
    async with sessions() as session:
        found = await quarantine_entries(session, states=("held", "blocked", "registered"))
    (entry,) = [e for e in found if e.device_id == device_id]
    return entry.id


async def test_the_site_files_gateways_and_assets_are_the_known_senders(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        keys = (await known_senders(session)).keys
    assert "demo/gateway/gw-demo" in keys
    assert "demo/elevator/elev-01" in keys
    assert "demo/smoke_alarm/smoke-001" in keys
    assert "demo/gateway/gw-spoof" not in keys
    assert "demo/elevator/ghost-lift-99" not in keys
    async with sessions() as session:
        audited = await session.scalars(
            select(AuditRow.entity_id).where(AuditRow.action == "gateway.created")
        )
        assert list(audited) == ["demo/gw-demo"]
    # Importing again changes nothing.
    async with SqlUnitOfWork(sessions) as uow:
        report = await uow.sites.import_file(
            load_site_file(DEMO), actor="cli:test", at=T0, source="demo"
        )
    assert report.created == []
    assert report.not_in_file == []


async def test_sightings_fold_into_one_entry_per_sender(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    later = T0 + timedelta(minutes=5)
    await note_sightings(
        SqlUnitOfWork(sessions),
        [seen("elevator", "ghost-lift-99", T0), seen("gateway", "gw-spoof", T0)],
    )
    await note_sightings(
        SqlUnitOfWork(sessions),
        [
            seen("elevator", "ghost-lift-99", later, "gw-other").merge(
                seen("elevator", "ghost-lift-99", later)
            )
        ],
    )
    assert await entries(sessions) == {
        "elevator/ghost-lift-99": (3, "held"),
        "gateway/gw-spoof": (1, "held"),
    }
    async with sessions() as session:
        (ghost, _) = await quarantine_entries(session, sites=["demo"])
        assert (ghost.device_id, ghost.first_seen, ghost.last_seen) == ("ghost-lift-99", T0, later)
        assert ghost.sample == f"sample at {later}"
        assert await quarantine_entries(session, sites=["north"]) == []


async def test_a_blocked_entry_stays_quarantined_and_is_counted_on(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await note_sightings(SqlUnitOfWork(sessions), [seen("gateway", "gw-spoof", T0)])
    spoof = await entry_id(sessions, "gw-spoof")
    await block(SqlUnitOfWork(sessions), spoof, by="admin:li", clock=lambda: T0)
    await note_sightings(SqlUnitOfWork(sessions), [seen("gateway", "gw-spoof", T0)])
    assert await entries(sessions) == {"gateway/gw-spoof": (2, "blocked")}
    async with sessions() as session:
        assert "demo/gateway/gw-spoof" not in (await known_senders(session)).keys
        audited = await session.scalar(
            select(AuditRow).where(AuditRow.action == "quarantine.blocked")
        )
        assert audited is not None
        assert (audited.actor, audited.entity_id, audited.to_state) == (
            "admin:li",
            "demo/gateway/gw-spoof",
            "blocked",
        )


async def test_registering_puts_a_gateway_or_a_device_in_the_register(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await note_sightings(
        SqlUnitOfWork(sessions),
        [seen("gateway", "gw-b2", T0), seen("smoke_alarm", "smoke-099", T0)],
    )
    await register(
        SqlUnitOfWork(sessions), await entry_id(sessions, "gw-b2"), by="admin:li", clock=lambda: T0
    )
    smoke = await entry_id(sessions, "smoke-099")
    await register(
        SqlUnitOfWork(sessions),
        smoke,
        by="admin:li",
        clock=lambda: T0,
        building="B2",
        device=SmokeAlarm(name="smoke-099", location="B2 stairwell 3F"),
    )
    async with sessions() as session:
        keys = (await known_senders(session)).keys
    assert {"demo/gateway/gw-b2", "demo/smoke_alarm/smoke-099"} <= keys
    assert await entries(sessions) == {
        "gateway/gw-b2": (1, "registered"),
        "smoke_alarm/smoke-099": (1, "registered"),
    }
    async with sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditRow.action).where(AuditRow.reason == "registered from the quarantine")
            )
        )
    assert sorted(actions) == ["asset.created", "gateway.created"]
    with pytest.raises(InvalidRequest, match="registered already"):
        await block(SqlUnitOfWork(sessions), smoke, by="admin:li", clock=lambda: T0)


@pytest.mark.parametrize(
    ("building", "device", "message"),
    [
        (None, None, "needs its building and facts"),
        ("B1", SmokeAlarm(name="smoke-100"), "the entry is device ghost-lift-99, not smoke-100"),
        ("B1", SmokeAlarm(name="ghost-lift-99"), "sends as a elevator, not a smoke_alarm"),
        (
            "B9",
            Elevator(
                name="ghost-lift-99",
                make="Monarch",
                model="NICE3000+",
                install_date=date(2020, 1, 1),
                rated_load_kg=1000,
                rated_speed_mps=1.75,
                floors_served=12,
            ),
            "site demo has no building B9",
        ),
    ],
)
async def test_a_device_registers_only_with_its_own_facts_in_a_known_building(
    sessions: async_sessionmaker[AsyncSession],
    building: str | None,
    device: Elevator | SmokeAlarm | None,
    message: str,
) -> None:
    await note_sightings(SqlUnitOfWork(sessions), [seen("elevator", "ghost-lift-99", T0)])
    ghost = await entry_id(sessions, "ghost-lift-99")
    with pytest.raises(InvalidRequest, match=message):
        await register(
            SqlUnitOfWork(sessions),
            ghost,
            by="admin:li",
            clock=lambda: T0,
            building=building,
            device=device,
        )
    assert await entries(sessions) == {"elevator/ghost-lift-99": (1, "held")}


async def test_an_unknown_site_or_entry_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    other = Sighting("north", "gateway", "gw-n1", "gw-n1", T0, T0, 1, "")
    await note_sightings(SqlUnitOfWork(sessions), [other])
    with pytest.raises(InvalidRequest, match="site north is not in the register"):
        await register(
            SqlUnitOfWork(sessions), await entry_id(sessions, "gw-n1"), by="a", clock=lambda: T0
        )
    with pytest.raises(NotFound):
        await block(SqlUnitOfWork(sessions), 999_999, by="a", clock=lambda: T0)
