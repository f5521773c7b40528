"""The asset read model: the register (which device is where), its descriptive facts,
and the alarms open on a device.

Asset keys are ``site/device_type/device_id``, as work orders and alarms name devices; the
register says the asset *kind* (``charger_cabinet``), the wire says the device *type*
(``charger``): :data:`DEVICE_TYPE_OF_KIND` maps one to the other.

Errors: :func:`find_asset` raises :class:`~maintenance.domain.errors.NotFound` for an
unknown device and :class:`~maintenance.domain.errors.InvalidRequest` for a device id
that several sites share when no site is named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.tables import AlarmRow, Asset, Building, Site
from maintenance.domain.errors import InvalidRequest, NotFound

__all__ = [
    "DEVICE_TYPE_OF_KIND",
    "OFFLINE",
    "AssetFacts",
    "AssetInfo",
    "OpenAlarm",
    "asset_facts",
    "asset_register",
    "find_asset",
    "offline_devices",
    "open_alarms",
]

DEVICE_TYPE_OF_KIND: Final = {
    "elevator": "elevator",
    "charger_cabinet": "charger",
    "smoke_alarm": "smoke_alarm",
}
"""Asset kind in the register -> device type on the wire (and in asset keys)."""

OFFLINE: Final = "offline"
"""The fault kind of the alarm that says a device stopped reporting."""


@dataclass(frozen=True, slots=True)
class AssetInfo:
    key: str
    """``site/device_type/device_id``, the asset key of work orders and alarms."""
    site: str
    device_type: str
    device_id: str
    kind: str
    building: str
    row_id: int


@dataclass(frozen=True, slots=True)
class AssetFacts:
    """What the register says about a device besides where it is (elevator columns are
    empty for other kinds; ``ports`` is a charger's)."""

    location: str | None
    make: str | None
    model: str | None
    install_date: date | None
    rated_load_kg: int | None
    rated_speed_mps: float | None
    floors_served: int | None
    last_safety_inspection: date | None
    maintenance_contractor: str | None
    ports: int | None
    registration_code: str | None = None


@dataclass(frozen=True, slots=True)
class OpenAlarm:
    id: str
    rule: str
    fault_kind: str
    severity: str
    priority: str | None
    raised_at: datetime
    work_order_id: str | None


async def asset_register(
    session: AsyncSession, *, device_id: str | None = None, site: str | None = None
) -> dict[str, AssetInfo]:
    """Registered assets by asset key: every one, or those with this device id / site."""
    query = (
        select(Asset.id, Asset.kind, Asset.device_id, Site.code, Building.code)
        .join(Site, Asset.site_id == Site.id)
        .join(Building, Asset.building_id == Building.id)
    )
    if device_id is not None:
        query = query.where(Asset.device_id == device_id)
    if site is not None:
        query = query.where(Site.code == site)
    register = {}
    for row_id, kind, device, site_code, building in (await session.execute(query)).all():
        device_type = DEVICE_TYPE_OF_KIND[kind]
        key = f"{site_code}/{device_type}/{device}"
        register[key] = AssetInfo(key, site_code, device_type, device, kind, building, row_id)
    return register


async def registration_codes(session: AsyncSession) -> dict[str, str]:
    """Elevators' registration codes by asset key (``site/elevator/elev-01``), for those
    that have one."""
    query = (
        select(Site.code, Asset.device_id, Asset.registration_code)
        .join(Site, Asset.site_id == Site.id)
        .where(Asset.kind == "elevator", Asset.registration_code.is_not(None))
    )
    return {
        f"{site}/elevator/{device}": code
        for site, device, code in (await session.execute(query)).all()
        if code is not None  # the query's filter; this tells the type checker
    }


async def find_asset(session: AsyncSession, device_id: str, site: str | None = None) -> AssetInfo:
    """The registered device ``device_id`` (in ``site``, needed when two sites share it)."""
    found = list((await asset_register(session, device_id=device_id, site=site)).values())
    if not found:
        where = "" if site is None else f" at site {site!r}"
        raise NotFound(f"no registered device {device_id!r}{where}")
    if len(found) > 1:
        sites = ", ".join(sorted(info.site for info in found))
        raise InvalidRequest(f"device {device_id!r} exists at sites {sites}: name the site")
    return found[0]


async def asset_facts(session: AsyncSession, assets: Iterable[AssetInfo]) -> dict[int, AssetFacts]:
    """The register's facts on ``assets``, by :attr:`AssetInfo.row_id`."""
    rows = await session.scalars(select(Asset).where(Asset.id.in_([a.row_id for a in assets])))
    return {
        row.id: AssetFacts(
            location=row.location,
            make=row.make,
            model=row.model,
            install_date=row.install_date,
            rated_load_kg=row.rated_load_kg,
            rated_speed_mps=row.rated_speed_mps,
            floors_served=row.floors_served,
            last_safety_inspection=row.last_safety_inspection,
            maintenance_contractor=row.maintenance_contractor,
            ports=row.ports,
            registration_code=row.registration_code,
        )
        for row in rows
    }


async def offline_devices(session: AsyncSession, assets: Iterable[AssetInfo]) -> set[str]:
    """The keys of ``assets`` with an active :data:`OFFLINE` alarm."""
    keys = {a.key for a in assets}
    rows = await session.execute(
        select(AlarmRow.site, AlarmRow.device_type, AlarmRow.device_id).where(
            AlarmRow.fault_kind == OFFLINE,
            AlarmRow.cleared_at.is_(None),
            AlarmRow.device_id.in_({key.rsplit("/", 1)[1] for key in keys}),
        )
    )
    return {f"{s}/{t}/{d}" for s, t, d in rows.all()} & keys


async def open_alarms(session: AsyncSession, asset: AssetInfo) -> list[OpenAlarm]:
    """The alarms not yet cleared on ``asset``, oldest raised first."""
    alarms = await session.scalars(
        select(AlarmRow)
        .where(
            AlarmRow.site == asset.site,
            AlarmRow.device_type == asset.device_type,
            AlarmRow.device_id == asset.device_id,
            AlarmRow.cleared_at.is_(None),
        )
        .order_by(AlarmRow.raised_at)
    )
    return [
        OpenAlarm(
            id=a.id,
            rule=a.rule,
            fault_kind=a.fault_kind,
            severity=a.severity,
            priority=a.priority,
            raised_at=a.raised_at,
            work_order_id=a.work_order_id,
        )
        for a in alarms
    ]
