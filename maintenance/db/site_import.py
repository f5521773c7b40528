"""Load a site file into the database: create what is new, update what changed.

:class:`SqlSites` is the unit of work's ``sites`` repository (``uow.sites``)::

    async with SqlUnitOfWork(sessions) as uow:
        report = await uow.sites.import_file(site_file, actor=..., at=..., source=...)
        await uow.commit()

Idempotent: rows are matched by their natural keys (site code; building name within the
site; device id within the site), so importing the same file twice changes nothing and a
corrected file updates rows in place. Every creation and change is written to the audit
trail with the fields' old and new values. Devices in the database but missing from the
file are reported, not deleted: their alarms and work orders still refer to them.

:meth:`SqlSites.register_device` adds one device to a registered site's building, as an
import would (the quarantine's "register"). The same repository tells the service layer
what a rescue at a car opens with (:meth:`SqlSites.rescue_targets`: the site's rescue
settings and the car's contractor) and whether a device is in the register
(:meth:`SqlSites.has_device`, before an order is opened for it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maintenance.db.audit import append
from maintenance.db.inspection_tables import InspectionRow
from maintenance.db.quarantine_tables import SiteGateway
from maintenance.db.read.assets import DEVICE_TYPE_OF_KIND
from maintenance.db.tables import Asset, Base, Building, Site
from maintenance.domain.audit import AuditEntry
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.events import JsonValue
from maintenance.domain.rescue import RescueTargets
from maintenance.domain.signals import DeviceRef
from maintenance.sites import (
    ChargerCabinet,
    Device,
    Elevator,
    RescuePolicy,
    SiteFile,
    derived_rescue_code,
)

__all__ = ["ImportReport", "SqlSites"]


@dataclass
class ImportReport:
    """What an import did; ``created`` and ``updated`` name entities (``asset demo/elev-01``)."""

    site: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    not_in_file: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"site {self.site}: {len(self.created)} created, {len(self.updated)} updated,"
            f" {self.unchanged} unchanged"
        )
        if self.not_in_file:
            text += f"; in the database but not in the file: {', '.join(self.not_in_file)}"
        return text


Columns = dict[str, Any]
R = TypeVar("R", bound=Base)


class _Importer:
    def __init__(
        self, session: AsyncSession, report: ImportReport, actor: str, at: datetime, reason: str
    ) -> None:
        self.session = session
        self.report = report
        self.actor = actor
        self.at = at
        self.reason = reason

    async def save(
        self,
        entity: str,
        row: R | None,
        new: Callable[..., R],
        keys: Columns,
        wanted: Columns,
        shown: Callable[[Columns], Columns] = dict,
    ) -> R:
        """Create ``new(**keys, **wanted)`` or bring ``row`` to ``wanted``; audit either.

        ``entity`` is ``"<type> <id>"``; ``shown`` turns columns into what the audit
        entry records (an asset's building code rather than its row id).
        """
        entity_type, entity_id = entity.split(" ", 1)
        if row is None:
            row = new(**keys, **wanted)
            self.session.add(row)
            await self.session.flush()
            self.report.created.append(entity)
            await self.audit(f"{entity_type}.created", entity_type, entity_id, shown(wanted))
            return row
        before, after = shown({name: getattr(row, name) for name in wanted}), shown(wanted)
        changes = {
            name: [_json(before[name]), _json(value)]
            for name, value in after.items()
            if before[name] != value
        }
        if not changes:
            self.report.unchanged += 1
            return row
        for name, value in wanted.items():
            setattr(row, name, value)
        self.report.updated.append(entity)
        await self.audit(f"{entity_type}.updated", entity_type, entity_id, changes)
        return row

    async def audit(
        self, action: str, entity_type: str, entity_id: str, detail: Mapping[str, Any]
    ) -> None:
        entry = AuditEntry(
            at=self.at,
            actor=self.actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            reason=self.reason,
            detail={name: _json(value) for name, value in detail.items()},
        )
        await append(self.session, entry)


def _json(value: Any) -> JsonValue:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_json(item) for item in value]
    plain: JsonValue = value  # the other column types (str, int, float, None) are JSON
    return plain


def _asset_columns(site: str, device: Device, building_id: int) -> Columns:
    values: Columns = {
        "building_id": building_id,
        "kind": device.kind,
        "location": device.location,
        "make": device.make,
        "model": device.model,
        "install_date": device.install_date,
    }
    if isinstance(device, Elevator):
        values |= device.model_dump(
            include={
                "rated_load_kg",
                "rated_speed_mps",
                "floors_served",
                "last_safety_inspection",
                "maintenance_contractor",
                "registration_code",
            }
        )
        values["rescue_code"] = device.rescue_code or derived_rescue_code(site, device.name)
    if isinstance(device, ChargerCabinet):
        values["ports"] = device.ports
    return values


async def _save_certificate(importer: _Importer, asset: Asset, car: Elevator) -> None:
    """The file's last inspection joins the car's inspection register, once (matched by
    date, so one recorded later through the CLI or API stays the current certificate).
    Neither counted nor audited on its own: the asset's entry records the file's
    ``last_safety_inspection``, and the file is the source of the rest."""
    certificate = car.certificate()
    if certificate is None:
        return
    inspected = certificate.inspected_on
    known = await importer.session.scalar(
        select(InspectionRow.id).where(
            InspectionRow.asset_id == asset.id, InspectionRow.inspected_on == inspected
        )
    )
    if known is not None:
        return
    importer.session.add(
        InspectionRow(
            asset_id=asset.id,
            inspected_on=inspected,
            valid_until=certificate.valid_until,
            certificate_number=certificate.number,
            recorded_by=importer.actor,
            recorded_at=importer.at,
        )
    )


class SqlSites:
    """The site register of one unit of work: sites, buildings and assets."""

    def __init__(self, session: Callable[[], AsyncSession]) -> None:
        self._session = session

    async def import_file(
        self, site_file: SiteFile, *, actor: str, at: datetime, source: str
    ) -> ImportReport:
        """Create or update the site, its buildings and assets in the unit's transaction.

        ``actor``, ``at`` and ``source`` (the file's name) go into the audit entries. The
        unit's commit makes them durable, with their audit entries.
        """
        return await _import(self._session(), site_file, actor, at, source)

    async def register_device(
        self, site: str, building: str, device: Device, *, actor: str, at: datetime
    ) -> None:
        """Add ``device`` to ``building`` of ``site``, audited as an import would be.

        InvalidRequest when the site or building is not registered, or the site has a
        device with this id already."""
        session = self._session()
        site_id = await session.scalar(select(Site.id).where(Site.code == site))
        if site_id is None:
            raise InvalidRequest(f"site {site} is not in the register: import its site file first")
        building_id = await session.scalar(
            select(Building.id).where(Building.site_id == site_id, Building.code == building)
        )
        if building_id is None:
            raise InvalidRequest(f"site {site} has no building {building}")
        taken = await session.scalar(
            select(Asset.id).where(Asset.site_id == site_id, Asset.device_id == device.name)
        )
        if taken is not None:
            raise InvalidRequest(f"site {site} has a device {device.name} already")
        importer = _Importer(
            session, ImportReport(site), actor, at, "registered from the quarantine"
        )

        def shown(columns: Columns) -> Columns:
            return {
                **{k: v for k, v in columns.items() if k != "building_id"},
                "building": building,
            }

        asset = await importer.save(
            f"asset {site}/{device.name}",
            None,
            Asset,
            {"site_id": site_id, "device_id": device.name},
            _asset_columns(site, device, building_id),
            shown,
        )
        if isinstance(device, Elevator):
            await _save_certificate(importer, asset, device)

    async def rescue_targets(self, site: str, device_id: str) -> RescueTargets:
        """What a rescue at ``device_id`` opens with: its site's rescue settings (the
        defaults for a site not registered) and the car's maintenance contractor."""
        session = self._session()
        stored = await session.scalar(select(Site.rescue).where(Site.code == site))
        contractor = await session.scalar(
            select(Asset.maintenance_contractor)
            .join(Site, Site.id == Asset.site_id)
            .where(Site.code == site, Asset.device_id == device_id)
        )
        return RescuePolicy.model_validate(stored or {}).targets(contractor)

    async def has_device(self, device: DeviceRef) -> bool:
        kinds = [k for k, t in DEVICE_TYPE_OF_KIND.items() if t == device.device_type]
        found = await self._session().scalar(
            select(Asset.id)
            .join(Site, Site.id == Asset.site_id)
            .where(
                Site.code == device.site,
                Asset.device_id == device.device_id,
                Asset.kind.in_(kinds),
            )
        )
        return found is not None


async def _import(
    session: AsyncSession, site_file: SiteFile, actor: str, at: datetime, source: str
) -> ImportReport:
    code = site_file.site
    report = ImportReport(code)
    importer = _Importer(session, report, actor, at, f"imported from site file {source}")

    site = await importer.save(
        f"site {code}",
        await session.scalar(select(Site).where(Site.code == code)),
        Site,
        {"code": code},
        {
            "name": site_file.name,
            "address": site_file.address,
            "timezone": site_file.timezone,
            "rescue": site_file.rescue.stored(),
        },
    )
    buildings = {
        row.code: row
        for row in await session.scalars(select(Building).where(Building.site_id == site.id))
    }
    assets = {
        row.device_id: row
        for row in await session.scalars(select(Asset).where(Asset.site_id == site.id))
    }
    building_codes = {row.id: row.code for row in buildings.values()}
    latest_inspections = await session.execute(
        select(InspectionRow.asset_id, func.max(InspectionRow.inspected_on))
        .join(Asset, InspectionRow.asset_id == Asset.id)
        .where(Asset.site_id == site.id)
        .group_by(InspectionRow.asset_id)
    )
    recorded: dict[int, date] = {asset_id: day for asset_id, day in latest_inspections.all()}

    def shown(columns: Columns) -> Columns:
        shown = dict(columns)
        shown["building"] = building_codes[shown.pop("building_id")]
        return shown

    for entry in site_file.buildings:
        building = await importer.save(
            f"building {code}/{entry.name}",
            buildings.get(entry.name),
            Building,
            {"site_id": site.id, "code": entry.name},
            {"name": entry.title, "floors": entry.floors},
        )
        building_codes[building.id] = building.code
        for device in entry.devices():
            row = assets.pop(device.name, None)
            columns = _asset_columns(code, device, building.id)
            latest = recorded.get(row.id) if row is not None else None
            if latest is not None and (
                columns.get("last_safety_inspection") is None
                or columns["last_safety_inspection"] < latest
            ):
                # An inspection recorded since the file was written stays the last one.
                columns["last_safety_inspection"] = latest
            asset = await importer.save(
                f"asset {code}/{device.name}",
                row,
                Asset,
                {"site_id": site.id, "device_id": device.name},
                columns,
                shown,
            )
            if isinstance(device, Elevator):
                await _save_certificate(importer, asset, device)
    gateways = set(
        await session.scalars(select(SiteGateway.gateway_id).where(SiteGateway.site_id == site.id))
    )
    for gateway in site_file.gateways:
        if gateway in gateways:  # a gateway has no facts to change
            gateways.discard(gateway)
            report.unchanged += 1
            continue
        session.add(SiteGateway(site_id=site.id, gateway_id=gateway))
        report.created.append(f"gateway {code}/{gateway}")
        await importer.audit("gateway.created", "gateway", f"{code}/{gateway}", {})
    report.not_in_file = sorted(f"asset {code}/{device_id}" for device_id in assets)
    report.not_in_file += sorted(f"gateway {code}/{gateway}" for gateway in gateways)
    return report
