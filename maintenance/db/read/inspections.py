"""The inspection read model: each elevator with its current certificate.

:func:`inspected_cars` serves the unit of work's ``inspections`` repository (the
periodic check, recording), the inspection list of the CLI and the API, and the public
notice board alike, so all of them agree on which certificate is current: a car's latest
inspection by date.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.inspection_tables import InspectionRow, InspectionStepRow
from maintenance.db.tables import Asset, Building, Site
from maintenance.domain.inspections import CarInspection, Certificate, InspectionStatus, Step
from maintenance.domain.signals import DeviceRef

__all__ = ["inspected_cars"]


async def inspected_cars(
    session: AsyncSession, *, sites: Collection[str] | None = None, device_id: str | None = None
) -> list[CarInspection]:
    """Every elevator (of ``sites``; the one ``device_id``) with its current certificate
    and the steps sent for it, by site, building and device id."""
    query = (
        select(Asset.id, Asset.device_id, Asset.location, Site.code, Site.timezone, Building.code)
        .join(Site, Asset.site_id == Site.id)
        .join(Building, Asset.building_id == Building.id)
        .where(Asset.kind == "elevator")
        .order_by(Site.code, Building.code, Asset.device_id)
    )
    if sites is not None:
        query = query.where(Site.code.in_(sites))
    if device_id is not None:
        query = query.where(Asset.device_id == device_id)
    cars = {
        asset_id: CarInspection(
            car=DeviceRef(site_code, "elevator", device),
            building=building,
            location=location,
            timezone=zone,
        )
        for asset_id, device, location, site_code, zone, building in (
            await session.execute(query)
        ).all()
    }
    latest: dict[int, InspectionRow] = {}
    rows = await session.scalars(
        select(InspectionRow)
        .where(InspectionRow.asset_id.in_(cars))
        .order_by(InspectionRow.inspected_on, InspectionRow.id)
    )
    for row in rows:
        latest[row.asset_id] = row  # the last one by date wins
    sent: dict[int, set[Step]] = {row.id: set() for row in latest.values()}
    steps = await session.execute(
        select(InspectionStepRow.inspection_id, InspectionStepRow.step).where(
            InspectionStepRow.inspection_id.in_(sent)
        )
    )
    for inspection_id, step in steps.all():
        sent[inspection_id].add(InspectionStatus(step))
    for asset_id, row in latest.items():
        cars[asset_id] = replace(
            cars[asset_id],
            certificate=_certificate(row),
            certificate_id=row.id,
            sent=frozenset(sent[row.id]),
        )
    return list(cars.values())


def _certificate(row: InspectionRow) -> Certificate:
    return Certificate(row.inspected_on, row.valid_until, row.certificate_number)
