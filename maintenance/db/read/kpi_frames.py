"""The KPI input frames (:class:`maintenance.domain.kpis.KpiFrames`) from the database.

One call, :func:`kpi_frames`, builds every frame for a period ``[start, end)``, of every
site or of one (the public notice board's):

- ``work_orders``: the orders any KPI of the period can look at (created before the end
  and either created in the period or not closed before it), with the SLA due times as
  :meth:`SlaClocks.of` puts them as of the period end and the time on hold up to their
  resolution. Asset kind and building come from the asset register when the order's
  asset key (``site/device_type/device_id``) names a registered device.
- ``faults``: elevator faults (:func:`fault_records`, shared with the evidence).
- ``trips`` and ``operating_hours``: per elevator, the rise of the controller's run
  counter (F9-11/F9-12, field ``run_count``) and running hours (F9-09,
  ``running_hours``) in the period, read from InfluxDB when a reader is given; without
  one they are left out (the KPIs then report no trips). No trip is stored in SQL.

**What counts as a fault** *(our choice)*: an alarm on an elevator that has a priority
(notices such as an e-bike in the car do not) and whose fault kind is a failure, not
``offline`` (communications), ``silent`` (a suspicion) or ``ebike``; and a work order on
an elevator asked for by staff or a resident (not opened by an alarm) for such a kind.
A fault is a *repeat* when the order it opened (or is) repeats a fault closed within 30
days (``work_order.repeat_of``). Planned maintenance is no fault: a scheduled visit's
order and a car's overdue-visit alarm are left out (a defect a visit finds opens a repair
order, which counts).

Scheduled maintenance visits (category ``maintenance_visit``) are not in the orders frame
either *(our choice)*: the KPIs are about repairs and requests, and whether visits are on
time is what the plans and their overdue alarms say (:mod:`maintenance.domain.plans`).

Errors: :class:`estatewatch.influx.query.InfluxQueryError` when the reader cannot answer; the caller
may retry without a reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import pandas as pd
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from estatewatch.influx.query import InfluxReader
from maintenance.db.mapping import ALARM, WORK_ORDER
from maintenance.db.read.assets import DEVICE_TYPE_OF_KIND, AssetInfo, asset_register
from maintenance.db.read.work_orders import load_orders
from maintenance.db.tables import WorkOrderAlarmRow
from maintenance.domain.kpis import RESCUE_COLUMNS, WORK_ORDER_COLUMNS, KpiFrames
from maintenance.domain.plans import OVERDUE_RULE
from maintenance.domain.rescue import Stage
from maintenance.domain.sla import SlaClocks, SlaPolicy, time_on_hold
from maintenance.domain.visits import VISIT_CATEGORY
from maintenance.domain.workorders import WorkOrder

__all__ = [
    "NOT_FAULTS",
    "FaultRow",
    "elevator_counters",
    "fault_records",
    "kpi_frames",
]

NOT_FAULTS: Final = frozenset({"offline", "silent", "ebike"})
ELEVATOR: Final = "elevator"
COUNTER_FIELDS: Final = ("run_count", "running_hours")
_COUNTER_BUCKET: Final = timedelta(days=1)
MINUTE: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class FaultRow:
    asset_key: str
    at: datetime
    fault_kind: str
    repeat: bool


def _asset_kind(asset: str, register: dict[str, AssetInfo]) -> str:
    info = register.get(asset)
    if info is not None:
        return info.kind
    parts = asset.split("/")
    # An unregistered device still says its type in its key; a resident's place does not.
    return parts[1] if len(parts) == 3 and parts[1] in DEVICE_TYPE_OF_KIND.values() else "other"


async def fault_records(
    session: AsyncSession, end: datetime, asset_keys: Iterable[str] | None = None
) -> list[FaultRow]:
    """Elevator faults before ``end`` (of ``asset_keys`` if given), oldest first."""
    keys = None if asset_keys is None else set(asset_keys)
    links = WorkOrderAlarmRow.__table__
    alarms = (
        select(
            ALARM.c.site,
            ALARM.c.device_id,
            ALARM.c.raised_at,
            ALARM.c.fault_kind,
            WORK_ORDER.c.repeat_of,
            links.c.position,
        )
        .outerjoin(WORK_ORDER, WORK_ORDER.c.id == ALARM.c.work_order_id)
        .outerjoin(
            links,
            and_(
                links.c.alarm_id == ALARM.c.id,
                links.c.order_id == ALARM.c.work_order_id,
            ),
        )
        .where(
            ALARM.c.device_type == ELEVATOR,
            ALARM.c.priority.is_not(None),
            ALARM.c.fault_kind.not_in(NOT_FAULTS),
            ALARM.c.rule != OVERDUE_RULE,
            ALARM.c.raised_at < end,
        )
    )
    faults = [
        # Only the alarm that opened a repeat order is the repeat fault; later ones joined it.
        FaultRow(f"{site}/{ELEVATOR}/{device}", at, kind, repeat is not None and position == 0)
        for site, device, at, kind, repeat, position in (await session.execute(alarms)).all()
    ]
    requested = select(
        WORK_ORDER.c.asset, WORK_ORDER.c.created_at, WORK_ORDER.c.fault_kind, WORK_ORDER.c.repeat_of
    ).where(
        WORK_ORDER.c.source != "alarm",
        WORK_ORDER.c.asset.like(f"%/{ELEVATOR}/%"),
        WORK_ORDER.c.fault_kind.not_in(NOT_FAULTS),
        WORK_ORDER.c.category != VISIT_CATEGORY,
        WORK_ORDER.c.created_at < end,
    )
    faults += [
        FaultRow(asset, at, kind, repeat is not None)
        for asset, at, kind, repeat in (await session.execute(requested)).all()
    ]
    if keys is not None:
        faults = [fault for fault in faults if fault.asset_key in keys]
    return sorted(faults, key=lambda fault: (fault.at, fault.asset_key))


async def _orders(
    session: AsyncSession, start: datetime, end: datetime, site: str | None
) -> list[WorkOrder]:
    c = WORK_ORDER.c
    query = select(WORK_ORDER).where(
        c.category != VISIT_CATEGORY,
        c.created_at < end,
        or_(c.created_at >= start, c.closed_at.is_(None), c.closed_at >= start),
    )
    if site is not None:
        query = query.where(c.site == site)
    return await load_orders(session, query.order_by(c.created_at, c.id))


def _order_row(
    order: WorkOrder, register: dict[str, AssetInfo], policy: SlaPolicy, end: datetime
) -> dict[str, Any]:
    clocks = SlaClocks.of(order, policy, end)
    info = register.get(order.asset)
    held_until = min(order.resolved_at, end) if order.resolved_at is not None else end
    return {
        "id": order.id,
        "asset_id": order.asset,
        "asset_kind": _asset_kind(order.asset, register),
        "building": None if info is None else info.building,
        "category": order.category,
        "priority": order.priority,
        "source": order.source,
        "created_at": order.created_at,
        "acknowledged_at": order.acknowledged_at,
        "first_feedback_at": order.first_feedback_at,
        "resolved_at": order.resolved_at,
        "closed_at": order.closed_at,
        "response_due_at": clocks.response.due_at,
        "feedback_due_at": clocks.feedback.due_at,
        "on_hold_minutes": time_on_hold(order, held_until) / MINUTE,
        "cost_actual": None if order.cost_actual is None else float(order.cost_actual),
        "rating": None if order.rating is None else order.rating.stars,
        "repeat_of": order.repeat_of,
        "resolution": None if order.resolution is None else order.resolution.value,
    }


def _frame(rows: list[dict[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    names = list(columns)
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype="object") for name in names})
    return pd.DataFrame(rows, columns=names)


async def elevator_counters(
    reader: InfluxReader, elevators: Iterable[AssetInfo], start: datetime, end: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``trips`` (``asset_id``, ``trips``) and ``operating_hours`` (``asset_id``, ``hours``):
    the counters' rise between their lowest and highest value in ``[start, end)``.

    Counters only grow, so the rise is the highest value less the lowest. A controller
    reset or replaced in the period shows as a day's highest value below an earlier
    day's: that elevator then gets no figure rather than a wrong one.
    """
    trips: list[dict[str, Any]] = []
    hours: list[dict[str, Any]] = []
    for elevator in elevators:
        low = await reader.series(
            ELEVATOR, elevator.device_id, COUNTER_FIELDS, start, end,
            every=_COUNTER_BUCKET, aggregate="min", site=elevator.site,
        )  # fmt: skip
        high = await reader.series(
            ELEVATOR, elevator.device_id, COUNTER_FIELDS, start, end,
            every=_COUNTER_BUCKET, aggregate="max", site=elevator.site,
        )  # fmt: skip
        for name, out, column in (("run_count", trips, "trips"), ("running_hours", hours, "hours")):
            lows, highs = low[["time", name]].dropna(), high[["time", name]].dropna()
            if lows.empty or highs.empty:
                continue
            first, last = lows[name].iloc[0], highs[name].iloc[-1]
            if highs[name].is_monotonic_increasing and last >= first:
                out.append({"asset_id": elevator.key, column: last - first})
    return _frame(trips, ("asset_id", "trips")), _frame(hours, ("asset_id", "hours"))


async def kpi_frames(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    policy: SlaPolicy,
    reader: InfluxReader | None = None,
    site: str | None = None,
) -> KpiFrames:
    """Every KPI input frame of ``[start, end)``: of every site, or of ``site`` only."""
    register = await asset_register(session, site=site)
    loaded = await _orders(session, start, end, site)
    orders = [_order_row(o, register, policy, end) for o in loaded]
    rescues = [
        {
            "id": o.id,
            "reported_at": o.rescue.reported_at,
            "arrived_at": o.rescue.arrived_at,
            "released_at": o.rescue.released_at,
            "arrive_within_minutes": o.rescue.targets.arrive_within / MINUTE,
            "false_alarm": o.rescue.stage is Stage.FALSE_ALARM,
        }
        for o in loaded
        if o.rescue is not None
    ]
    faults = [
        {"asset_id": f.asset_key, "at": f.at}
        for f in await fault_records(session, end)
        if f.at >= start and (site is None or f.asset_key.startswith(f"{site}/"))
    ]
    trips = hours = None
    if reader is not None:
        elevators = [a for a in register.values() if a.kind == ELEVATOR]
        trips, hours = await elevator_counters(reader, elevators, start, end)
    return KpiFrames(
        work_orders=_frame(orders, WORK_ORDER_COLUMNS),
        faults=_frame(faults, ("asset_id", "at")),
        trips=trips,
        operating_hours=hours,
        rescues=_frame(rescues, RESCUE_COLUMNS),
    )
