"""The asset register for tests: the maintenance worker believes only registered senders
(the rest are quarantined) and orders are opened only for registered devices, so a
test's simulated site is imported first, as a site file would put it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from estatewatch.clock import utc_now
from maintenance.db.engine import make_sessionmaker, open_engine
from maintenance.db.migrations import prepare_schema
from maintenance.db.uow import SqlUnitOfWork
from maintenance.sites import validate_site

IMPORTED_AT = datetime(2026, 11, 1, tzinfo=UTC)

_SECTION = {"elevator": "elevators", "charger": "chargers", "smoke_alarm": "smoke_alarms"}
_FACTS: dict[str, dict[str, Any]] = {
    "elevator": {
        "make": "Monarch",
        "model": "NICE3000+",
        "install_date": "2012-05-01",
        "rated_load_kg": 1000,
        "rated_speed_mps": 1.75,
        "floors_served": 18,
    },
    "charger": {"ports": 10},
    "smoke_alarm": {},
}


async def register_devices(
    sessions: async_sessionmaker[AsyncSession],
    *keys: str,
    building: str = "B1",
    sites: Sequence[str] = (),
    gateways: Sequence[str] = (),
    inspected: date | None = None,
    registration_codes: Mapping[str, str] | None = None,
) -> None:
    """Put the devices ``site/device_type/device_id`` in the asset register of their sites
    (in ``building``), and ``sites`` even with no devices, with ``gateways`` for each.
    Elevators were last inspected on ``inspected`` (None: never); one in
    ``registration_codes`` carries its code (the regulator feed reports only those)."""
    codes = registration_codes or {}
    files: dict[str, dict[str, list[dict[str, Any]]]] = {site: {} for site in sites}
    for key in keys:
        site, device_type, device_id = key.split("/")
        facts = {"name": device_id, **_FACTS[device_type]}
        if device_type == "elevator" and inspected is not None:
            facts["last_safety_inspection"] = inspected.isoformat()
        if device_id in codes:
            facts["registration_code"] = codes[device_id]
        files.setdefault(site, {}).setdefault(_SECTION[device_type], []).append(facts)
    async with SqlUnitOfWork(sessions) as uow:
        for site, sections in files.items():
            site_file = {
                "site": site,
                "name": site,
                "gateways": list(gateways),
                "buildings": [{"name": building, **sections}],
            }
            await uow.sites.import_file(
                validate_site(site_file, f"{site}.yaml"),
                actor="cli:test",
                at=IMPORTED_AT,
                source="test",
            )
        await uow.commit()


async def registered(
    database_url: str,
    site: str,
    *cars: str,
    gateway: str = "gw-1",
    registration_codes: Mapping[str, str] | None = None,
) -> None:
    """Put ``site`` with ``cars`` (elevators in building B1) and ``gateway`` in the
    register of the database at ``database_url``, migrating it first. The cars were
    inspected a month ago (the worker's real clock finds no certificate due)."""
    async with open_engine(database_url) as engine:
        await prepare_schema(engine, migrate=True)
        await register_devices(
            make_sessionmaker(engine),
            *(f"{site}/elevator/{car}" for car in cars),
            sites=[site],
            gateways=[gateway],
            inspected=(utc_now() - timedelta(days=30)).date(),
            registration_codes=registration_codes,
        )
