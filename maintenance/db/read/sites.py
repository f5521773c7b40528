"""The site read model: a compound's name and time zone, and its buildings and cars.

:func:`get_site` is what every per-site page starts from (the public notice board shows
its months in :attr:`SiteInfo.timezone`); :func:`site_places` lists the places a resident
can report from (each building and the elevator cars in it), for the QR sheet.

Errors: :func:`get_site` and :func:`site_places` raise
:class:`~maintenance.domain.errors.NotFound` for an unknown site code.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.tables import Asset, Building, Site
from maintenance.domain.errors import NotFound

__all__ = ["BuildingPlaces", "Car", "SiteInfo", "get_site", "list_sites", "site_places"]


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
        select(Asset.building_id, Asset.device_id, Asset.location)
        .where(Asset.site_id == site, Asset.kind == "elevator")
        .order_by(Asset.device_id)
    )
    for building_id, device_id, location in elevators.all():
        cars[building_id].append(Car(device_id, location))
    return [BuildingPlaces(b.code, b.name, tuple(cars[b.id])) for b in buildings]
