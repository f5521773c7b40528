"""The site file: a compound's buildings and the devices in them (YAML, validated).

``name`` keys follow the gateway's site file: a building's ``name`` is the ``building``
tag the gateways send, a device's ``name`` is its device id on the wire. Every error
names the file and the field, e.g. ``demo.yaml: buildings[0] (B1).elevators[1] (elev-04).
rated_load_kg: Input should be greater than 0``. ``infra/sites/demo-compound.yaml`` is
the simulated demo compound's file. ``timezone`` (an IANA name, default Asia/Shanghai)
is the zone its pages show times in and its months are counted in.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from estatewatch.validation import read_yaml, validate
from estatewatch.wire import Name
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.site_time import DEFAULT_TIMEZONE, site_zone

Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Device(_Strict):
    kind: ClassVar[str]  # the asset kind stored for this device

    name: Name
    location: Text | None = None
    make: Text | None = None
    model: Text | None = None
    install_date: date | None = None


class Elevator(_Device):
    kind = "elevator"

    make: Text
    model: Text
    install_date: date
    rated_load_kg: Annotated[int, Field(gt=0, le=10_000)]
    rated_speed_mps: Annotated[float, Field(gt=0, le=20)]
    floors_served: Annotated[int, Field(ge=2, le=200)]
    last_safety_inspection: date | None = None
    maintenance_contractor: Text | None = None

    @model_validator(mode="after")
    def _inspected_after_install(self) -> Self:
        inspected = self.last_safety_inspection
        if inspected is not None and inspected < self.install_date:
            raise ValueError(
                f"last_safety_inspection {inspected} is before install_date {self.install_date}"
            )
        return self


class ChargerCabinet(_Device):
    kind = "charger_cabinet"

    ports: Annotated[int, Field(ge=1, le=64)]


class SmokeAlarm(_Device):
    kind = "smoke_alarm"


Device = Elevator | ChargerCabinet | SmokeAlarm


class Building(_Strict):
    name: Name
    title: Text | None = None
    floors: Annotated[int, Field(ge=1, le=200)] | None = None
    elevators: list[Elevator] = []
    chargers: list[ChargerCabinet] = []
    smoke_alarms: list[SmokeAlarm] = []

    def devices(self) -> list[Device]:
        return [*self.elevators, *self.chargers, *self.smoke_alarms]


class SiteFile(_Strict):
    site: Name
    name: Text
    address: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    timezone: Annotated[str, Field(max_length=64)] = DEFAULT_TIMEZONE
    """IANA zone the site's people read times in (pages, months); storage stays UTC."""
    buildings: Annotated[list[Building], Field(min_length=1)]

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, name: str) -> str:
        try:
            site_zone(name)
        except InvalidRequest as exc:  # pydantic reports ValueErrors as the field's error
            raise ValueError(str(exc)) from exc
        return name

    @field_validator("buildings")
    @classmethod
    def _names_unique(cls, buildings: list[Building]) -> list[Building]:
        seen_buildings: set[str] = set()
        seen_devices: dict[str, str] = {}
        for building in buildings:
            if building.name in seen_buildings:
                raise ValueError(f"building {building.name} appears twice")
            seen_buildings.add(building.name)
            for device in building.devices():
                if device.name in seen_devices:
                    raise ValueError(
                        f"device {device.name} appears twice (in {seen_devices[device.name]}"
                        f" and {building.name}): device ids are unique within a site"
                    )
                seen_devices[device.name] = building.name
        return buildings


def validate_site(raw: Any, source: str) -> SiteFile:
    """Validate a parsed site file (e.g. an upload); errors name ``source`` and the field."""
    return validate(SiteFile, raw, source)


def load_site_file(path: Path) -> SiteFile:
    """Read and validate a site file; ConfigError names the file and field on failure."""
    return validate_site(read_yaml(path), str(path))
