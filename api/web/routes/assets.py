"""One device's page: ``/assets/{site}/{device_id}?days=7|30|90``.

What it shows, elevator first (chargers and smoke alarms show what they have):

- its state as the duty board's car tile says it (:func:`api.web.routes.board.live_state`:
  offline, fault, under maintenance, then running or idle from the latest reading; other
  devices: offline, fault, under maintenance, else online or unknown by the JSON API's
  rule, :func:`api.routes.assets.online_state`), floor, last fault, last seen, its open
  alarms, the register's facts and (elevators) the inspection certificate, as the public
  notice board shows it (:func:`maintenance.db.read.inspections.inspected_cars`);
- charts over the last 7, 30 or 90 days (:mod:`maintenance.db.read.asset_history`, one
  bounded bucket per point): door opening and closing times and trips from InfluxDB,
  alarms and faults from the alarm history, drawn by ``static/charts.js`` from the JSON
  beside each chart. Without InfluxDB, or when it fails, the page still answers, with
  "telemetry unavailable" where those charts would be; with no points, "no data yet";
- its work orders, open ones first (by SLA due time), then the last closed ones, each
  linked to the order page when the reader has one (technicians);
- for an elevator with an installation date, its renewal evidence over the last year,
  with the recommendation and its findings in the reader's language.

Who sees it: the JSON API's ``GET /api/v1/assets/{device_id}`` rule
(:func:`api.routes.assets.visible_asset`): a device the reader may not see (another
site's for a technician; any for a resident) is the 404 page, like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import pandas as pd
from fastapi import Path, Query
from fastapi.responses import HTMLResponse

from api.deps import AppServices, ReadSession
from api.routes.assets import (
    enum_labels,
    evidence_for,
    last_seen,
    latest_rows,
    visible_asset,
    with_telemetry,
)
from api.routes.work_orders import release
from api.schemas.committee import TelemetryState
from api.users import ROLES
from api.visibility import order_scope
from api.web.deps import Page, PageDep, WebUser, page_allow, page_router
from api.web.evidence import FINDINGS, RECOMMENDATIONS
from api.web.i18n import N_
from api.web.orders import RESOLUTION_NAMES, STATUS_NAMES
from api.web.routes.board import CAR_STATES, OPEN, is_machine_fault, live_state, reading_number
from api.web.routes.public import CERTIFICATE_STATUS
from estatewatch.influx.query import InfluxReader
from maintenance.db.read.alarms import AlarmFilters, AlarmSummary, list_alarms
from maintenance.db.read.asset_history import (
    BUCKETS,
    ChartWindow,
    alarm_counts,
    door_times,
    trips,
)
from maintenance.db.read.assets import AssetInfo, asset_facts
from maintenance.db.read.inspections import inspected_cars
from maintenance.db.read.pages import MAX_PAGE_SIZE, PageRequest
from maintenance.db.read.sites import get_site
from maintenance.db.read.work_orders import (
    SortKey,
    WorkOrderFilters,
    WorkOrderSort,
    WorkOrderSummary,
    list_work_orders,
)
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.evidence import ElevatorEvidence
from maintenance.domain.workorders import TERMINAL, Status

__all__ = ["CLOSED_SHOWN", "DEVICE_STATES", "READING_LABELS", "READING_NAMES", "Chart", "router"]

router = page_router()

DEVICE_STATES: Final = CAR_STATES | {"online": N_("Online")}
KIND_NAMES: Final = {
    "elevator": N_("Elevator"),
    "charger_cabinet": N_("E-bike charging cabinet"),
    "smoke_alarm": N_("Smoke alarm"),
}
RANGE_NAMES: Final = {7: N_("7 days"), 30: N_("30 days"), 90: N_("90 days")}
POINT_NOTES: Final = {
    7: N_("One point per hour."),
    30: N_("One point per 6 hours."),
    90: N_("One point per day (days counted in UTC)."),
}
# The device catalogue's enumerated fields (estatewatch/catalogue/profiles): a field's
# name and each label as a reader sees them (a test holds every label of the catalogue).
READING_NAMES: Final = {
    "mode": N_("Operating mode"),
    "car_state": N_("Car and doors"),
    "direction": N_("Direction of travel"),
}
READING_LABELS: Final = {
    "inspection": N_("Inspection"),
    "fire_return": N_("Fire recall"),
    "fault": N_("Fault"),
    "firefighter": N_("Firefighter service"),
    "automatic": N_("Automatic"),
    "locked": N_("Locked out"),
    "relevelling": N_("Relevelling"),
    "emergency_power": N_("Emergency power"),
    "door_opening": N_("Doors opening"),
    "door_open_hold": N_("Doors held open"),
    "door_closing": N_("Doors closing"),
    "door_closed_hold": N_("Doors closed, waiting"),
    "running": N_("Running"),
    "stopped": N_("Stopped"),
    "up": N_("Up"),
    "down": N_("Down"),
}
OPEN_SHOWN: Final = 50
CLOSED_SHOWN: Final = 10
"""The most recent closed (or cancelled) orders shown after the open ones."""
_RECENT_ALARMS: Final = 20
"""Alarms read for the last fault (the newest that is not an offline alarm)."""

ChartStatus = Literal["ok", "empty", "unavailable", "not_configured"]
_UNSEEN: Final[dict[TelemetryState, ChartStatus]] = {
    "unavailable": "unavailable",
    "not_configured": "not_configured",
}

DeviceId = Annotated[str, Path(min_length=1, max_length=64)]
SiteCode = Annotated[str, Path(min_length=1, max_length=64)]
Days = Annotated[int, Query(description="7, 30 or 90")]


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart as the page draws it: ``spec`` is the JSON for ``static/charts.js``
    (``times`` in epoch seconds, ``series`` of ``label`` and ``values``)."""

    id: str
    title: str
    status: ChartStatus
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return len(self.spec.get("times", ()))


@dataclass(frozen=True, slots=True)
class _Charts:
    """Makes the page's charts over ``window``, in the page's language and time zone."""

    page: Page
    window: ChartWindow

    def chart(
        self,
        chart_id: str,
        title: str,
        frame: pd.DataFrame | None,
        series: dict[str, str],
        *,
        bars: bool,
        status: ChartStatus = "ok",
    ) -> Chart:
        """A chart of ``frame``'s ``series`` (column -> label msgid); ``status`` when
        there is no frame to show."""
        name = self.page.gettext(title)
        if frame is None:
            return Chart(chart_id, name, status)
        if frame.empty:
            return Chart(chart_id, name, "empty")
        spec = {
            "times": [int(stamp.timestamp()) for stamp in frame["time"]],
            # The whole range on the axis, however few buckets have data.
            "from": int(self.window.start.timestamp()),
            "to": int(self.window.end.timestamp()),
            "tz": self.page.site_tz,
            "bars": bars,
            "integer": bars,
            "series": [
                {
                    "label": self.page.gettext(label),
                    "values": [None if pd.isna(v) else round(float(v), 2) for v in frame[column]],
                }
                for column, label in series.items()
            ],
        }
        return Chart(chart_id, name, "ok", spec)


async def _telemetry_charts(
    charts: _Charts,
    influx: InfluxReader | None,
    telemetry: TelemetryState,
    asset: AssetInfo,
) -> list[Chart]:
    """The elevator's InfluxDB charts, or each with why it has none (``telemetry``, how
    InfluxDB answered the page's first question, when ``influx`` is None)."""
    window = charts.window

    async def frames(reader: InfluxReader | None) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        if reader is None:
            return None
        return await door_times(reader, asset, window), await trips(reader, asset, window)

    found, state = (None, telemetry) if influx is None else await with_telemetry(influx, frames)
    doors, trip_counts = (None, None) if found is None else found
    status = _UNSEEN.get(state, "ok")
    door_series = {"door_open_duration": N_("Opening"), "door_close_duration": N_("Closing")}
    return [
        charts.chart(
            "doors",
            N_("Door opening and closing time (s)"),
            doors,
            door_series,
            bars=False,
            status=status,
        ),
        charts.chart(
            "trips", N_("Trips"), trip_counts, {"trips": N_("Trips")}, bars=True, status=status
        ),
    ]


@dataclass(frozen=True, slots=True)
class DeviceState:
    state: str  # a key of DEVICE_STATES
    floor: int | None
    last_fault: AlarmSummary | None
    last_seen: datetime | None


def _state(
    asset: AssetInfo,
    row: dict[str, Any] | None,
    open_alarms: list[AlarmSummary],
    recent: list[AlarmSummary],
    orders: list[WorkOrderSummary],
    now: datetime,
) -> DeviceState:
    """The board's car state (and for other devices the JSON API's online rule)."""
    seen = last_seen(row)
    is_elevator = asset.kind == "elevator"
    state, online = live_state(
        asset.kind,
        open_alarms,
        row,
        worked_on=any(o.status in (Status.IN_PROGRESS, Status.ON_HOLD) for o in orders),
        now=now,
    )
    if state == "unknown" and online:
        state = "online"
    floor = reading_number(row, "floor") if is_elevator else None
    faults = [a for a in recent if is_machine_fault(a)]
    return DeviceState(
        state, None if floor is None else int(floor), faults[0] if faults else None, seen
    )


def _readings(page: Page, asset: AssetInfo, row: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """The latest reading's fields with a value, by name, an enumerated one as its
    catalogue label in the reader's language (``car_state`` 6: 停止). An elevator shows
    only those: its numbers are in the tile and the charts."""
    if row is None:
        return []
    skip = {"device_id", "port", "time"}
    fields = {k: v for k, v in row.items() if k not in skip and not pd.isna(v)}
    labels = enum_labels(asset.device_type, fields)
    if asset.kind == "elevator":
        fields = {name: value for name, value in fields.items() if name in labels}
    shown = []
    for name, value in sorted(fields.items()):
        label = labels.get(name)
        named = READING_NAMES.get(name)
        shown.append(
            (
                name if named is None else page.gettext(named),
                value if label is None else page.gettext(READING_LABELS.get(label, label)),
            )
        )
    return shown


async def _orders(
    reader: ReadSession, me: WebUser, asset: AssetInfo, now: datetime
) -> tuple[list[WorkOrderSummary], list[WorkOrderSummary]]:
    """Open orders on the asset by due time, then the last closed ones, as ``me`` sees them."""

    async def chosen(
        statuses: frozenset[Status], sort: WorkOrderSort, limit: int
    ) -> list[WorkOrderSummary]:
        found = await list_work_orders(
            reader,
            now=now,
            filters=WorkOrderFilters(status=statuses, asset=asset.key),
            sort=sort,
            page=PageRequest(limit=limit),
            visible=order_scope(me.user),
        )
        return found.items

    open_ = await chosen(OPEN, WorkOrderSort(SortKey.DUE, descending=False), OPEN_SHOWN)
    closed = await chosen(TERMINAL, WorkOrderSort(SortKey.CREATED_AT), CLOSED_SHOWN)
    return open_, closed


async def _alarms(
    reader: ReadSession, asset: AssetInfo, *, active: bool | None, limit: int
) -> list[AlarmSummary]:
    """The device's alarms (only the active ones, if ``active``), newest raised first."""
    filters = AlarmFilters(
        site=asset.site, device_type=asset.device_type, device_id=asset.device_id, active=active
    )
    return (await list_alarms(reader, filters=filters, page=PageRequest(limit=limit))).items


async def _evidence(
    reader: ReadSession,
    asset: AssetInfo,
    installed: bool,
    now: datetime,
    influx: InfluxReader | None,
) -> ElevatorEvidence | None:
    if asset.kind != "elevator" or not installed:
        return None
    evidence, _ = await evidence_for(reader, asset, now, influx)
    return evidence


@router.get("/assets/{site}/{device_id}", dependencies=[page_allow(*ROLES)])
async def asset_page(
    site: SiteCode,
    device_id: DeviceId,
    me: WebUser,
    page: PageDep,
    reader: ReadSession,
    services: AppServices,
    days: Days = 7,
) -> HTMLResponse:
    now = services.clock()
    try:
        window = ChartWindow.ending(now, days)
    except ValueError as exc:
        raise InvalidRequest(f"days: {exc}") from None
    asset = await visible_asset(reader, me.user, device_id, site)
    facts = (await asset_facts(reader, [asset]))[asset.row_id]
    page.site_tz = (await get_site(reader, asset.site)).timezone  # times and charts in it
    open_alarms = await _alarms(reader, asset, active=True, limit=MAX_PAGE_SIZE)
    recent = await _alarms(reader, asset, active=None, limit=_RECENT_ALARMS)
    open_orders, closed_orders = await _orders(reader, me, asset, now)
    history = await alarm_counts(reader, asset, window)
    latest, telemetry = await with_telemetry(services.influx, lambda r: latest_rows(r, [asset]))
    # Only ask InfluxDB again (evidence, charts) when it just answered.
    influx = services.influx if telemetry == "ok" else None
    evidence = await _evidence(reader, asset, facts.install_date is not None, now, influx)
    inspection = None
    if asset.kind == "elevator":
        (inspection,) = await inspected_cars(reader, sites=[asset.site], device_id=asset.device_id)
    await release(reader)
    row = latest.get(asset.key)
    maker = _Charts(page, window)
    charts: list[Chart] = []
    if asset.kind == "elevator":
        charts = await _telemetry_charts(maker, influx, telemetry, asset)
    faults = {"alarms": N_("Alarms raised")}
    if asset.kind == "elevator":
        faults["faults"] = N_("Faults")
    charts.append(maker.chart("alarms", N_("Alarms and faults"), history, faults, bars=True))
    return page.render(
        "assets/asset.html",
        {
            "asset": asset,
            "facts": facts,
            "kind_name": KIND_NAMES.get(asset.kind, asset.kind),
            "device": _state(asset, row, open_alarms, recent, open_orders, now),
            "device_states": DEVICE_STATES,
            "readings": _readings(page, asset, row),
            "telemetry": telemetry,
            "open_alarms": open_alarms,
            "window": window,
            "ranges": tuple(BUCKETS),
            "range_names": RANGE_NAMES,
            "point_notes": POINT_NOTES,
            "now": now,
            "charts": charts,
            "open_orders": open_orders,
            "closed_orders": closed_orders,
            "status_names": STATUS_NAMES,
            "resolution_names": RESOLUTION_NAMES,
            "inspection": inspection,
            "inspection_status": None if inspection is None else inspection.status(now),
            "certificate_status": CERTIFICATE_STATUS,
            "evidence": evidence,
            "recommendations": RECOMMENDATIONS,
            "findings": FINDINGS,
        },
    )
