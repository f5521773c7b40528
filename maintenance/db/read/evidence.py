"""An elevator's evidence for the committee, gathered from the database (and InfluxDB).

:func:`elevator_evidence` collects what :func:`maintenance.domain.evidence.build_evidence`
needs for one car over the ``period`` before ``period_end`` (a year by default):

- facts from the asset register (installation date, last safety inspection);
- its faults, with repeat flags, as the KPIs count them
  (:func:`maintenance.db.read.kpi_frames.fault_records`);
- cost to date: the actual cost of every work order on it so far, whenever created;
- trips and running hours in the period from the controller's counters in InfluxDB
  when a reader is given (:func:`maintenance.db.read.kpi_frames.elevator_counters`); without
  one, or with no counter data, trips are 0, so the rate per 1,000 trips is left out and
  the recommendation rests on the calendar MTBF.

Errors: :class:`~maintenance.domain.errors.InvalidRequest` for a device that is not an
elevator with an installation date.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from estatewatch.influx.query import InfluxReader
from maintenance.db.mapping import WORK_ORDER
from maintenance.db.read.assets import AssetInfo, asset_facts
from maintenance.db.read.kpi_frames import elevator_counters, fault_records
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.evidence import (
    ElevatorEvidence,
    ElevatorFacts,
    EvidencePolicy,
    FaultRecord,
    build_evidence,
)

__all__ = ["EVIDENCE_PERIOD", "cost_to_date", "elevator_evidence"]

EVIDENCE_PERIOD: Final = timedelta(days=365)


async def cost_to_date(session: AsyncSession, asset_key: str, until: datetime) -> Decimal:
    """The actual cost of the work orders on ``asset_key`` created before ``until``."""
    costs = await session.scalars(
        select(WORK_ORDER.c.cost_actual).where(
            WORK_ORDER.c.asset == asset_key,
            WORK_ORDER.c.cost_actual.is_not(None),
            WORK_ORDER.c.created_at < until,
        )
    )
    return sum((Decimal(cost) for cost in costs), Decimal(0))


async def elevator_evidence(
    session: AsyncSession,
    asset: AssetInfo,
    period_end: datetime,
    *,
    period: timedelta = EVIDENCE_PERIOD,
    reader: InfluxReader | None = None,
    policy: EvidencePolicy | None = None,
) -> ElevatorEvidence:
    """The evidence on one elevator over ``[period_end - period, period_end)``."""
    facts = (await asset_facts(session, [asset])).get(asset.row_id)
    if facts is None or asset.kind != "elevator":
        raise InvalidRequest(f"{asset.key} is not an elevator: evidence is about elevators")
    if facts.install_date is None:
        raise InvalidRequest(f"{asset.key} has no installation date in the asset register")
    start = period_end - period
    faults = [
        FaultRecord(at=fault.at, fault_kind=fault.fault_kind, repeat=fault.repeat)
        for fault in await fault_records(session, period_end, [asset.key])
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
            installed_on=facts.install_date,
            last_inspection_on=facts.last_safety_inspection,
        ),
        faults,
        trips=trips,
        cost_to_date=await cost_to_date(session, asset.key, period_end),
        period_start=start,
        period_end=period_end,
        operating_hours=hours,
        policy=policy,
    )
