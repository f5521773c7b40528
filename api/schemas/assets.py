"""Response bodies for assets (with online state, latest telemetry, elevator health) and a
device's telemetry series."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.committee import TelemetryState
from maintenance.domain.evidence import Finding, Recommendation

__all__ = [
    "AlarmBrief",
    "AssetDetailOut",
    "AssetOut",
    "ElevatorHealth",
    "FieldValue",
    "OnlineBasis",
    "TelemetryOut",
]

FieldValue = float | int | bool | str | None
OnlineBasis = Literal["offline_alarm", "recent_data", "stale_data", "unknown"]


class AssetOut(BaseModel):
    device_id: str
    site: str
    building: str
    kind: str
    location: str | None
    make: str | None
    model: str | None
    install_date: date | None
    online: bool | None
    """None when nothing tells: no offline alarm and no telemetry to judge by."""
    online_basis: OnlineBasis
    last_seen: datetime | None
    """Time of the device's latest reading in InfluxDB."""


class AlarmBrief(BaseModel):
    """An alarm open on the device (built from the read model's ``OpenAlarm``)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    rule: str
    fault_kind: str
    severity: str
    priority: str | None
    raised_at: datetime
    work_order_id: str | None


class ElevatorHealth(BaseModel):
    age_years: int
    open_alarms: int
    faults_last_30_days: int
    recommendation: Recommendation
    reasons: tuple[str, ...]
    """From the year's evidence (see maintenance.domain.evidence), in English."""
    findings: tuple[Finding, ...]
    """The same findings as codes with their figures (and the English text)."""


class AssetDetailOut(AssetOut):
    rated_load_kg: int | None
    rated_speed_mps: float | None
    floors_served: int | None
    last_safety_inspection: date | None
    maintenance_contractor: str | None
    ports: int | None
    registration_code: str | None = Field(
        default=None, description="an elevator's equipment registration code, for regulators"
    )
    telemetry: TelemetryState
    telemetry_error: str | None
    latest: dict[str, FieldValue] | None
    """Each field's latest value; None when InfluxDB is not configured or did not answer."""
    latest_labels: dict[str, str] | None = Field(
        default=None,
        description=(
            "beside latest: the device catalogue's label of each enumerated field's value"
            " ({'car_state': 'stopped'} for car_state 6); None when latest is"
        ),
    )
    open_alarms: list[AlarmBrief]
    health: ElevatorHealth | None
    """Elevators only."""


class TelemetryOut(BaseModel):
    device_id: str
    site: str
    measurement: str
    fields: list[str]
    start: datetime
    end: datetime
    every_seconds: float
    aggregate: str
    points: list[dict[str, FieldValue]]
    """One per interval with data, oldest first: ``time`` (ISO 8601) and each field."""
