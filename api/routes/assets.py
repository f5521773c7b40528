"""Assets: the register, with each device's online state and, in detail, its latest
telemetry and (for elevators) a health summary.

Online state: an active ``offline`` alarm says offline; otherwise the latest reading in
InfluxDB says online when it is recent (:data:`STALE_AFTER` per kind, *our choice*: three
of the gateway's 60 s full reports for elevators and chargers, three hourly heartbeats for
smoke alarms), offline when older; with neither, unknown. When InfluxDB is not configured
or does not answer, the answer says so (``telemetry``) instead of failing: the register
and the alarms still stand.

Visibility (:mod:`api.visibility`): technicians see the sites they work at; a device they
may not see is a 404 like a missing one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, TypeVar

import pandas as pd
from fastapi import APIRouter, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AppServices, Clock, CurrentUser, Page, ReadSession
from api.policy import allow
from api.schemas.assets import (
    AlarmBrief,
    AssetDetailOut,
    AssetOut,
    ElevatorHealth,
    FieldValue,
    OnlineBasis,
)
from api.schemas.committee import TelemetryState
from api.users import User
from api.visibility import can_see_site
from estatewatch.catalogue import builtin_catalogue
from estatewatch.influx.query import InfluxQueryError, InfluxReader
from maintenance.db.read.assets import (
    OFFLINE,
    AssetFacts,
    AssetInfo,
    asset_facts,
    asset_register,
    find_asset,
    offline_devices,
    open_alarms,
)
from maintenance.db.read.evidence import elevator_evidence
from maintenance.db.read.kpi_frames import fault_records
from maintenance.domain.errors import NotFound
from maintenance.domain.evidence import ElevatorEvidence

__all__ = [
    "STALE_AFTER",
    "SiteQuery",
    "enum_labels",
    "evidence_for",
    "last_seen",
    "latest_rows",
    "online_state",
    "plain_value",
    "router",
    "visible_asset",
    "with_telemetry",
]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/assets", tags=["assets"])

_SEE = allow("admin", "manager", "committee", "supervisor", "technician")

STALE_AFTER: Final = {
    "elevator": timedelta(minutes=3),
    "charger_cabinet": timedelta(minutes=3),
    "smoke_alarm": timedelta(hours=3),
}
_TELEMETRY_NOTES: Final[dict[TelemetryState, str]] = {
    "not_configured": "the API has no InfluxDB configured: no latest values",
    "unavailable": "InfluxDB did not answer: latest values and trips are left out",
}
RECENT_FAULTS: Final = timedelta(days=30)

DeviceId = Annotated[str, Path(min_length=1, max_length=64)]
SiteQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=64, description="needed only when two sites share the id"),
]
T = TypeVar("T")


async def with_telemetry(
    reader: InfluxReader | None, run: Callable[[InfluxReader | None], Awaitable[T]]
) -> tuple[T, TelemetryState]:
    """``run(reader)``; without InfluxDB, or when it fails, ``run(None)`` and why."""
    if reader is None:
        return await run(None), "not_configured"
    try:
        return await run(reader), "ok"
    except InfluxQueryError as exc:
        log.warning("answering without telemetry: %s", exc)
        return await run(None), "unavailable"


async def evidence_for(
    session: AsyncSession, asset: AssetInfo, now: datetime, reader: InfluxReader | None
) -> tuple[ElevatorEvidence, TelemetryState]:
    """The year's evidence on an elevator, with trips when InfluxDB answers."""

    async def run(source: InfluxReader | None) -> ElevatorEvidence:
        return await elevator_evidence(session, asset, now, reader=source)

    return await with_telemetry(reader, run)


async def visible_asset(
    session: AsyncSession, user: User, device_id: str, site: str | None
) -> AssetInfo:
    """The device, if registered and visible to ``user``; else one and the same 404."""
    missing = NotFound(f"no registered device {device_id!r}")
    try:
        asset = await find_asset(session, device_id, site)
    except NotFound:
        raise missing from None
    if not can_see_site(user, asset.site):
        raise missing
    return asset


def plain_value(value: Any) -> FieldValue:
    """A DataFrame cell as JSON: numpy scalars unwrapped, NaN/NA as None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def enum_labels(device_type: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """The device catalogue's label of each enumerated field's value in ``fields`` (a
    latest row): ``car_state`` 6 is ``stopped``. A value the enum does not list has none."""
    known = builtin_catalogue().enum_labels(device_type)
    labels = {}
    for name, value in fields.items():
        number = plain_value(value)
        if isinstance(number, float) and number.is_integer():
            number = int(number)  # a column with gaps comes back from pandas as floats
        if name in known and isinstance(number, int) and not isinstance(number, bool):
            label = known[name].get(number)
            if label is not None:
                labels[name] = label
    return labels


def online_state(
    kind: str, offline_alarm: bool, seen: datetime | None, now: datetime
) -> tuple[bool | None, OnlineBasis]:
    """Online or not (None: unknown), and on what basis (see the module docstring)."""
    if offline_alarm:
        return False, "offline_alarm"
    if seen is None:
        return None, "unknown"
    if now - seen <= STALE_AFTER[kind]:
        return True, "recent_data"
    return False, "stale_data"


async def latest_rows(
    reader: InfluxReader | None, assets: list[AssetInfo]
) -> dict[str, dict[str, Any]]:
    """Asset key -> the device's latest row (``time`` and each field)."""
    if reader is None:
        return {}
    groups: dict[tuple[str, str], list[AssetInfo]] = {}
    for asset in assets:
        groups.setdefault((asset.site, asset.device_type), []).append(asset)
    latest: dict[str, dict[str, Any]] = {}
    for (site, device_type), members in groups.items():
        frame = await reader.latest(
            device_type, site=site, device_ids=[a.device_id for a in members]
        )
        for record in frame.to_dict("records"):
            latest[f"{site}/{device_type}/{record['device_id']}"] = record
    return latest


def last_seen(row: dict[str, Any] | None) -> datetime | None:
    """The time of a :func:`latest_rows` row (None without one)."""
    if row is None or pd.isna(row.get("time")):
        return None
    stamp: datetime = pd.Timestamp(row["time"]).to_pydatetime()
    return stamp


def _asset_out(
    facts: AssetFacts, info: AssetInfo, offline: bool, seen: datetime | None, now: datetime
) -> dict[str, Any]:
    online, basis = online_state(info.kind, offline, seen, now)
    return {
        "device_id": info.device_id,
        "site": info.site,
        "building": info.building,
        "kind": info.kind,
        "location": facts.location,
        "make": facts.make,
        "model": facts.model,
        "install_date": facts.install_date,
        "online": online,
        "online_basis": basis,
        "last_seen": seen,
    }


@router.get("", dependencies=[_SEE])
async def list_assets(
    me: CurrentUser,
    session: ReadSession,
    clock: Clock,
    services: AppServices,
    page: Page,
    kind: Annotated[str | None, Query(pattern="^(elevator|charger_cabinet|smoke_alarm)$")] = None,
    site: SiteQuery = None,
    building: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> list[AssetOut]:
    """Registered devices by site, building and device id, with their online state."""
    now = clock()
    register = await asset_register(session, site=site)
    chosen = sorted(
        (
            a
            for a in register.values()
            if (kind is None or a.kind == kind)
            and (site is None or a.site == site)
            and (building is None or a.building == building)
            and can_see_site(me.user, a.site)
        ),
        key=lambda a: (a.site, a.building, a.device_id),
    )[page.offset : page.offset + page.limit]
    facts = await asset_facts(session, chosen)
    offline = await offline_devices(session, chosen)
    latest, _ = await with_telemetry(services.influx, lambda r: latest_rows(r, chosen))
    return [
        AssetOut(
            **_asset_out(facts[a.row_id], a, a.key in offline, last_seen(latest.get(a.key)), now)
        )
        for a in chosen
    ]


async def _health(
    session: AsyncSession,
    asset: AssetInfo,
    open_alarms: int,
    now: datetime,
    reader: InfluxReader | None,
) -> ElevatorHealth:
    evidence, _ = await evidence_for(session, asset, now, reader)
    faults = await fault_records(session, now, [asset.key])
    recent = [f for f in faults if f.at >= now - RECENT_FAULTS]
    return ElevatorHealth(
        age_years=evidence.age_years,
        open_alarms=open_alarms,
        faults_last_30_days=len(recent),
        recommendation=evidence.recommendation,
        reasons=evidence.reasons,
        findings=evidence.findings,
    )


@router.get("/{device_id}", dependencies=[_SEE])
async def get_asset(
    device_id: DeviceId,
    me: CurrentUser,
    session: ReadSession,
    clock: Clock,
    services: AppServices,
    site: SiteQuery = None,
) -> AssetDetailOut:
    """One device: register entry, online state, latest telemetry, open alarms, health."""
    now = clock()
    asset = await visible_asset(session, me.user, device_id, site)
    facts = (await asset_facts(session, [asset]))[asset.row_id]  # the register just listed it
    alarms = [AlarmBrief.model_validate(a) for a in await open_alarms(session, asset)]
    latest, state = await with_telemetry(services.influx, lambda r: latest_rows(r, [asset]))
    health = None
    if asset.kind == "elevator" and facts.install_date is not None:
        reader = services.influx if state == "ok" else None
        health = await _health(session, asset, len(alarms), now, reader)
    record = latest.get(asset.key)
    offline = any(a.fault_kind == OFFLINE for a in alarms)
    described = _asset_out(facts, asset, offline, last_seen(record), now) | {
        "rated_load_kg": facts.rated_load_kg,
        "rated_speed_mps": facts.rated_speed_mps,
        "floors_served": facts.floors_served,
        "last_safety_inspection": facts.last_safety_inspection,
        "maintenance_contractor": facts.maintenance_contractor,
        "ports": facts.ports,
        "registration_code": facts.registration_code,
    }
    fields = (
        None
        if state != "ok"
        else {
            name: plain_value(value)
            for name, value in (record or {}).items()
            if name not in ("device_id", "port", "time")
        }
    )
    return AssetDetailOut(
        **described,
        telemetry=state,
        telemetry_error=_TELEMETRY_NOTES.get(state),
        latest=fields,
        latest_labels=None if fields is None else enum_labels(asset.device_type, fields),
        open_alarms=alarms,
        health=health,
    )
