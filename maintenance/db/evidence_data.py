"""An elevator's evidence for the committee, gathered from the database (and InfluxDB).

:func:`elevator_evidence` collects what :func:`maintenance.domain.evidence.build_evidence`
needs for one car over the ``period`` before ``period_end`` (a year by default):

- facts from the asset register (installation date, last safety inspection);
- its faults, with repeat flags, as the KPIs count them
  (:func:`maintenance.db.kpi_frames.fault_records`);
- cost to date: the actual cost of every work order on it so far, whenever created;
- trips and running hours in the period from the controller's counters in InfluxDB
  when a reader is given (:func:`maintenance.db.kpi_frames.elevator_counters`); without
  one, or with no counter data, trips are 0, so the rate per 1,000 trips is left out and
  the recommendation rests on the calendar MTBF.

:func:`find_asset` resolves the API's ``device_id`` (and optional ``site``) to a register
entry. Errors: :class:`~maintenance.domain.errors.NotFound` for an unknown device,
:class:`~maintenance.domain.errors.InvalidRequest` for an ambiguous device id or a device
that is not an elevator with an installation date.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from sqlalchemy import select

from estatewatch.influx.query import InfluxReader
from maintenance.db.kpi_frames import AssetInfo, asset_register, elevator_counters, fault_records
from maintenance.db.mapping import WORK_ORDER
from maintenance.db.tables import Asset
from maintenance.db.uow import SqlUnitOfWork
from maintenance.domain.errors import InvalidRequest, NotFound
from maintenance.domain.evidence import (
    ElevatorEvidence,
    ElevatorFacts,
    EvidencePolicy,
    FaultRecord,
    build_evidence,
)

__all__ = ["EVIDENCE_PERIOD", "cost_to_date", "elevator_evidence", "find_asset"]

EVIDENCE_PERIOD: Final = timedelta(days=365)


async def find_asset(uow: SqlUnitOfWork, device_id: str, site: str | None = None) -> AssetInfo:
    """The registered device ``device_id`` (in ``site``, needed when two sites share it)."""
    found = list((await asset_register(uow, device_id=device_id, site=site)).values())
    if not found:
        where = "" if site is None else f" at site {site!r}"
        raise NotFound(f"no registered device {device_id!r}{where}")
    if len(found) > 1:
        sites = ", ".join(sorted(info.site for info in found))
        raise InvalidRequest(f"device {device_id!r} exists at sites {sites}: name the site")
    return found[0]


async def cost_to_date(uow: SqlUnitOfWork, asset_key: str, until: datetime) -> Decimal:
    """The actual cost of the work orders on ``asset_key`` created before ``until``."""
    costs = await uow.session.scalars(
        select(WORK_ORDER.c.cost_actual).where(
            WORK_ORDER.c.asset == asset_key,
            WORK_ORDER.c.cost_actual.is_not(None),
            WORK_ORDER.c.created_at < until,
        )
    )
    return sum((Decimal(cost) for cost in costs), Decimal(0))


async def elevator_evidence(
    uow: SqlUnitOfWork,
    asset: AssetInfo,
    period_end: datetime,
    *,
    period: timedelta = EVIDENCE_PERIOD,
    reader: InfluxReader | None = None,
    policy: EvidencePolicy | None = None,
) -> ElevatorEvidence:
    """The evidence on one elevator over ``[period_end - period, period_end)``."""
    row = await uow.session.get(Asset, asset.row_id)
    if row is None or row.kind != "elevator":
        raise InvalidRequest(f"{asset.key} is not an elevator: evidence is about elevators")
    if row.install_date is None:
        raise InvalidRequest(f"{asset.key} has no installation date in the asset register")
    start = period_end - period
    faults = [
        FaultRecord(at=fault.at, fault_kind=fault.fault_kind, repeat=fault.repeat)
        for fault in await fault_records(uow, period_end, [asset.key])
    ]
    trips, hours = 0, None
    if reader is not None:
        trip_frame, hour_frame = await elevator_counters(reader, [asset], start, period_end)
        if len(trip_frame):
            trips = int(trip_frame["trips"].iloc[0])
        if len(hour_frame):
            hours = float(hour_frame["hours"].iloc[0])
    return build_evidence(
        ElevatorFacts(
            asset_id=asset.key,
            installed_on=row.install_date,
            last_inspection_on=row.last_safety_inspection,
        ),
        faults,
        trips=trips,
        cost_to_date=await cost_to_date(uow, asset.key, period_end),
        period_start=start,
        period_end=period_end,
        operating_hours=hours,
        policy=policy,
    )
