"""The site read model: a compound's name and time zone, and its buildings and cars.

:func:`get_site` is what every per-site page starts from (the public notice board shows
its months in :attr:`SiteInfo.timezone`); :func:`site_places` lists the places a resident
can report from (each building and the elevator cars in it, with each car's rescue
code), for the QR sheet; :func:`find_car` finds a car by its rescue code or device id, for
an "I am trapped" report.

Errors: :func:`get_site` and :func:`site_places` raise
:class:`~maintenance.domain.errors.NotFound` for an unknown site code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.tables import Asset, Building, Site
from maintenance.domain.errors import NotFound

__all__ = [
    "BuildingPlaces",
    "Car",
    "CarAt",
    "SiteInfo",
    "find_car",
    "get_site",
    "list_sites",
    "site_places",
]


@dataclass(frozen=True, slots=True)
class SiteInfo:
    code: str
    name: str
    address: str | None
    timezone: str


@dataclass(frozen=True, slots=True)
class Car:
    device_id: str
    location: str | None
    rescue_code: str | None = None


@dataclass(frozen=True, slots=True)
class CarAt:
    """An elevator car and where it is."""

    site: str
    building: str
    device_id: str
    location: str | None
    rescue_code: str | None


@dataclass(frozen=True, slots=True)
class BuildingPlaces:
    code: str
    name: str | None
    elevators: tuple[Car, ...]


def _info(row: Site) -> SiteInfo:
    return SiteInfo(row.code, row.name, row.address, row.timezone)


async def list_sites(session: AsyncSession) -> list[SiteInfo]:
    """Every site, by code."""
    return [_info(row) for row in await session.scalars(select(Site).order_by(Site.code))]


async def get_site(session: AsyncSession, code: str) -> SiteInfo:
    """The site ``code``; NotFound when there is none."""
    row = await session.scalar(select(Site).where(Site.code == code))
    if row is None:
        raise NotFound(f"no site {code!r}")
    return _info(row)


async def site_places(session: AsyncSession, code: str) -> list[BuildingPlaces]:
    """The site's buildings by code, each with its elevator cars by device id."""
    site = await session.scalar(select(Site.id).where(Site.code == code))
    if site is None:
        raise NotFound(f"no site {code!r}")
    buildings = (
        await session.scalars(
            select(Building).where(Building.site_id == site).order_by(Building.code)
        )
    ).all()
    cars: dict[int, list[Car]] = {building.id: [] for building in buildings}
    elevators = await session.execute(
        select(Asset.building_id, Asset.device_id, Asset.location, Asset.rescue_code)
        .where(Asset.site_id == site, Asset.kind == "elevator")
        .order_by(Asset.device_id)
    )
    for building_id, device_id, location, rescue_code in elevators.all():
        cars[building_id].append(Car(device_id, location, rescue_code))
    return [BuildingPlaces(b.code, b.name, tuple(cars[b.id])) for b in buildings]


async def find_car(
    session: AsyncSession,
    *,
    rescue_code: str | None = None,
    site: str | None = None,
    device_id: str | None = None,
) -> CarAt | None:
    """The elevator with ``rescue_code`` (any site; case-insensitive), or ``device_id``
    at ``site``; None when there is none."""
    query = (
        select(Site.code, Building.code, Asset.device_id, Asset.location, Asset.rescue_code)
        .join(Site, Site.id == Asset.site_id)
        .join(Building, Building.id == Asset.building_id)
        .where(Asset.kind == "elevator")
    )
    if rescue_code is not None:
        query = query.where(Asset.rescue_code == rescue_code.strip().upper())
    else:
        query = query.where(Site.code == site, Asset.device_id == device_id)
    row = (await session.execute(query)).first()
    return None if row is None else CarAt(*row)
