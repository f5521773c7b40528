"""The asset register for worker tests: the maintenance worker believes only registered
senders (the rest are quarantined), so a test's simulated site must be imported first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from estatewatch.clock import utc_now
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.migrations import prepare_schema
from maintenance.db.uow import SqlUnitOfWork
from maintenance.sites import validate_site

IMPORTED_AT = datetime(2026, 11, 1, tzinfo=UTC)


async def registered(
    database_url: str,
    site: str,
    *cars: str,
    gateway: str = "gw-1",
    registration_codes: Mapping[str, str] | None = None,
) -> None:
    """Put ``site`` with ``cars`` (elevators in building B1) and ``gateway`` in the
    register of the database at ``database_url``, migrating it first. The cars were
    inspected a month ago (the worker's real clock finds no certificate due); a car in
    ``registration_codes`` carries its code (the regulator feed reports only those)."""
    codes = registration_codes or {}
    inspected = (utc_now() - timedelta(days=30)).date().isoformat()
    elevators = [
        {
            "name": car,
            "make": "Monarch",
            "model": "NICE3000+",
            "install_date": "2015-06-01",
            "rated_load_kg": 1000,
            "rated_speed_mps": 1.75,
            "floors_served": 20,
            "last_safety_inspection": inspected,
        }
        | ({"registration_code": codes[car]} if car in codes else {})
        for car in cars
    ]
    raw = {
        "site": site,
        "name": site,
        "gateways": [gateway],
        "buildings": [{"name": "B1", "elevators": elevators}],
    }
    async with open_engine(database_url) as engine:
        await prepare_schema(engine, migrate=True)
        async with SqlUnitOfWork(make_sessionmaker(engine)) as uow:
            await uow.sites.import_file(
                validate_site(raw, "test"), actor="cli:test", at=IMPORTED_AT, source="test"
            )
            await uow.commit()
