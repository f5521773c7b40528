"""The maintenance-plan read model: each car's plan as the duty room, the committee and
the public board read it, a visit's record, and a car's health since its last visit.

- :func:`plan_rows`: every plan (of some sites), with its next due date and level, whether
  it is overdue today (the site's calendar day), the current interval and its reasons,
  and the visit waiting to be done;
- :func:`plan_of`: one car's plan; :func:`visit_record`: a visit's record by its work
  order's id;
- :func:`car_health`: what the on-demand rule (:mod:`maintenance.domain.intervals`) needs
  about a car since ``since``: online (its run counter reached InfluxDB in the period and
  no offline alarm is active; without a reader a car is not known to be monitored, so it
  keeps the statutory interval), within its inspection validity (its current certificate,
  :func:`maintenance.db.read.inspections.inspected_cars`), age, the alarms
  raised and the faults among them (alarms that open work orders, as the KPIs count
  faults), and trips from the controller's run counter when an InfluxDB reader is given
  (else 0, so no rate); with the reader also the door-time drift (:func:`door_drift`).
- :func:`door_drift`: the car's door cycle since ``since`` against its own baseline, from
  the controller's door times in InfluxDB (the asset page's door chart,
  :data:`~maintenance.db.read.asset_history.DOOR_FIELDS`): each day's mean opening plus
  closing time, the days before ``since`` (90 back) the baseline, the days from it the
  period; the figure itself is :func:`maintenance.domain.intervals.door_drift_pct`.

Errors: :class:`~estatewatch.influx.query.InfluxQueryError` when the reader cannot answer
(the API then asks again without one: the car is not known to be monitored).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from estatewatch.influx.query import InfluxReader
from maintenance.db.mapping import WORK_ORDER
from maintenance.db.plans import PLAN, VISIT, plan_from_row, visit_from_row
from maintenance.db.read.asset_history import DOOR_FIELDS, bucket_start
from maintenance.db.read.assets import AssetInfo, asset_facts, offline_devices
from maintenance.db.read.inspections import inspected_cars
from maintenance.db.read.kpi_frames import ELEVATOR, elevator_counters
from maintenance.db.tables import AlarmRow, Site
from maintenance.domain.checklists import Level
from maintenance.domain.evidence import completed_years
from maintenance.domain.inspections import inspection_valid
from maintenance.domain.intervals import DOOR_BASELINE_DAYS, CarHealth, door_drift_pct
from maintenance.domain.plan_reasons import PlanReason
from maintenance.domain.plans import OVERDUE_RULE, Plan
from maintenance.domain.site_time import to_site_time
from maintenance.domain.visits import Visit
from maintenance.domain.workorders import TERMINAL

__all__ = ["PlanView", "car_health", "door_drift", "plan_of", "plan_rows", "visit_record"]

_DAY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PlanView:
    asset: str
    site: str
    device_id: str
    interval_days: int
    reasons: tuple[str, ...]
    findings: tuple[PlanReason, ...]
    """The reasons as codes with their figures (the pages translate them)."""
    last_visit_on: date | None
    next_due: date
    next_level: Level
    overdue: bool
    days_since_visit: int | None
    pending_visit: str | None
    """The work order of the visit waiting to be done, if one is open."""


async def plan_rows(
    session: AsyncSession, now: datetime, *, sites: Iterable[str] | None = None
) -> list[PlanView]:
    query = select(PLAN, Site.timezone).join(Site, Site.code == PLAN.c.site)
    if sites is not None:
        query = query.where(PLAN.c.site.in_(list(sites)))
    rows = (await session.execute(query.order_by(PLAN.c.asset))).all()
    pending = await _pending_visits(session, [row.asset for row in rows])
    views = []
    for row in rows:
        plan = plan_from_row(row._mapping)
        today = to_site_time(now, row.timezone).date()
        views.append(
            PlanView(
                asset=plan.asset,
                site=plan.site,
                device_id=plan.asset.rsplit("/", 1)[1],
                interval_days=plan.interval_days,
                reasons=plan.reasons,
                findings=plan.findings,
                last_visit_on=plan.last_visit_on,
                next_due=plan.next_due(),
                next_level=plan.next_level(),
                overdue=plan.overdue_on(today),
                days_since_visit=plan.days_since_visit(today),
                pending_visit=pending.get(plan.asset),
            )
        )
    return views


async def _pending_visits(session: AsyncSession, assets: list[str]) -> dict[str, str]:
    if not assets:
        return {}
    query = (
        select(VISIT.c.asset, VISIT.c.order_id)
        .join(WORK_ORDER, WORK_ORDER.c.id == VISIT.c.order_id)
        .where(
            VISIT.c.asset.in_(assets),
            VISIT.c.ended_at.is_(None),
            WORK_ORDER.c.status.not_in([s.value for s in TERMINAL]),
        )
    )
    return {asset: order_id for asset, order_id in (await session.execute(query)).all()}


async def plan_of(session: AsyncSession, asset: str) -> Plan | None:
    row = (await session.execute(select(PLAN).where(PLAN.c.asset == asset))).first()
    return None if row is None else plan_from_row(row._mapping)


async def visit_record(session: AsyncSession, order_id: str) -> Visit | None:
    row = (await session.execute(select(VISIT).where(VISIT.c.order_id == order_id))).first()
    return None if row is None else visit_from_row(row._mapping)


async def car_health(
    session: AsyncSession,
    asset: AssetInfo,
    since: datetime,
    now: datetime,
    *,
    reader: InfluxReader | None = None,
) -> CarHealth:
    facts = (await asset_facts(session, [asset]))[asset.row_id]
    today = now.date()
    (car,) = await inspected_cars(session, sites=(asset.site,), device_id=asset.device_id)
    alarms = select(
        func.count(),
        func.count(AlarmRow.priority),  # count(priority): those with a priority
    ).where(
        AlarmRow.site == asset.site,
        AlarmRow.device_type == asset.device_type,
        AlarmRow.device_id == asset.device_id,
        AlarmRow.raised_at >= since,
        AlarmRow.rule != OVERDUE_RULE,  # the plan's own alarm says nothing of the car
    )
    raised, faults = (await session.execute(alarms)).one()
    trips, reporting, drift = 0, False, None
    if reader is not None:
        frame, _ = await elevator_counters(reader, [asset], since, now)
        reporting = not frame.empty
        trips = int(frame["trips"].sum()) if reporting else 0
        drift = await door_drift(reader, asset, since, now)
    return CarHealth(
        # Monitored: its counters reached InfluxDB in the period and no offline alarm is up.
        online=reporting and asset.key not in await offline_devices(session, [asset]),
        inspection_valid=inspection_valid(car.certificate, car.day(now)),
        age_years=completed_years(facts.install_date, today) if facts.install_date else 0,
        trips=trips,
        faults=faults,
        alarms=raised,
        door_drift_pct=drift,
    )


async def door_drift(
    reader: InfluxReader, asset: AssetInfo, since: datetime, now: datetime
) -> float | None:
    """The car's door-time drift in percent over ``[since, now)`` (None: not measurable).

    Days are InfluxDB's daily buckets (UTC); the day holding ``since`` is the period's
    first. A day counts when both its opening and closing times have readings."""
    first = bucket_start(since, _DAY)
    days = await reader.series(
        ELEVATOR, asset.device_id, DOOR_FIELDS, first - timedelta(days=DOOR_BASELINE_DAYS), now,
        every=_DAY, aggregate="mean", site=asset.site,
    )  # fmt: skip
    days = days.dropna(subset=list(DOOR_FIELDS))
    cycle = days[list(DOOR_FIELDS)].sum(axis=1)
    in_period = days["time"] >= pd.Timestamp(first)
    return door_drift_pct(cycle[~in_period].tolist(), cycle[in_period].tolist())
