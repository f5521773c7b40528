"""The unit of work's ``inspections`` repository (:class:`SqlInspections`): elevator
inspections recorded and the reminders sent, written straight into the unit's
transaction (tables in :mod:`maintenance.db.inspection_tables`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.audit import append
from maintenance.db.inspection_tables import InspectionRow, InspectionStepRow
from maintenance.db.read.inspections import inspected_cars
from maintenance.db.tables import Asset, Site
from maintenance.domain.audit import AuditEntry
from maintenance.domain.errors import InvalidRequest, NotFound
from maintenance.domain.inspections import CarInspection, Certificate, Step
from maintenance.domain.signals import DeviceRef

__all__ = ["SqlInspections"]


class SqlInspections:
    """The inspection register of one unit of work; writes go straight into its
    transaction, each recorded inspection with its audit entry."""

    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def cars(self, sites: Collection[str] | None = None) -> list[CarInspection]:
        return await inspected_cars(self._session(), sites=sites)

    async def car(self, site: str, device_id: str) -> CarInspection | None:
        found = await inspected_cars(self._session(), sites=(site,), device_id=device_id)
        return found[0] if found else None

    async def add(self, car: DeviceRef, certificate: Certificate, *, by: str, at: datetime) -> None:
        session = self._session()
        asset = await session.scalar(
            select(Asset)
            .join(Site, Asset.site_id == Site.id)
            .where(Site.code == car.site, Asset.device_id == car.device_id)
        )
        if asset is None or asset.kind != "elevator":
            raise NotFound(f"no elevator {car.device_id} at site {car.site}")
        same_day = await session.scalar(
            select(InspectionRow.id).where(
                InspectionRow.asset_id == asset.id,
                InspectionRow.inspected_on == certificate.inspected_on,
            )
        )
        if same_day is not None:
            raise InvalidRequest(
                f"{car.device_id}: an inspection on {certificate.inspected_on} is already recorded"
            )
        await session.execute(
            insert(InspectionRow).values(
                asset_id=asset.id,
                inspected_on=certificate.inspected_on,
                valid_until=certificate.valid_until,
                certificate_number=certificate.number,
                recorded_by=by,
                recorded_at=at,
            )
        )
        # The register's "last inspection" (the committee's evidence reads it) follows.
        if asset.last_safety_inspection is None or (
            asset.last_safety_inspection < certificate.inspected_on
        ):
            await session.execute(
                update(Asset)
                .where(Asset.id == asset.id)
                .values(last_safety_inspection=certificate.inspected_on)
            )
        await append(
            session,
            AuditEntry(
                at=at,
                actor=by,
                action="inspection.recorded",
                entity_type="inspection",
                entity_id=str(car),
                detail={
                    "inspected_on": certificate.inspected_on.isoformat(),
                    "valid_until": certificate.valid_until.isoformat(),
                    "certificate": certificate.number,
                },
            ),
        )

    async def mark_sent(self, certificate_id: int, step: Step, at: datetime) -> None:
        """Record ``step`` as sent for the certificate (a second time is a database
        error: another worker sent it, and this unit rolls back)."""
        await self._session().execute(
            insert(InspectionStepRow).values(inspection_id=certificate_id, step=step.value, at=at)
        )
