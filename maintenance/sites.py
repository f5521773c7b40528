"""The site file: a compound's buildings and the devices in them (YAML, validated).

``name`` keys follow the gateway's site file: a building's ``name`` is the ``building``
tag the gateways send, a device's ``name`` is its device id on the wire. Every error
names the file and the field, e.g. ``demo.yaml: buildings[0] (B1).elevators[1] (elev-04).
rated_load_kg: Input should be greater than 0``. ``infra/sites/demo-compound.yaml`` is
the simulated demo compound's file. ``timezone`` (an IANA name, default Asia/Shanghai)
is the zone its pages show times in and its months are counted in.

``rescue`` (optional) sets the site's entrapment response (:class:`RescuePolicy`):
the area (a city area's maintainer must arrive within 30 minutes, elsewhere within 60),
targets that override it, the backup maintainer and the emergency services number of
the escalation chain. Each elevator has a short ``rescue_code`` shown in its car (its QR
page) that a trapped passenger can give; a car without one in the file gets one derived
from its site and device id (:func:`derived_rescue_code`).

An elevator's ``registration_code`` is its equipment registration code (usually 20
digits, on its use registration certificate): what regulators' lift platforms key a car
by, and what the regulator feed (:mod:`maintenance.regulator_feed`) sends.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from estatewatch.validation import read_yaml, validate
from estatewatch.wire import NAME_PATTERN, Name
from maintenance.domain.errors import InvalidRequest
from maintenance.domain.inspections import Certificate, default_valid_until
from maintenance.domain.rescue import AREA_ARRIVAL, ChainStep, RescueTargets
from maintenance.domain.site_time import DEFAULT_TIMEZONE, site_zone
from maintenance.domain.sla import MINUTE, Minutes

Text = Annotated[str, Field(min_length=1, max_length=200)]
Party = Annotated[str, Field(min_length=1, max_length=100)]
RESCUE_CODE_PATTERN: Final = r"^[0-9A-Z]{4,12}$"
RescueCode = Annotated[str, Field(pattern=RESCUE_CODE_PATTERN)]
RegistrationCode = Annotated[str, Field(pattern=r"^[0-9A-Z]{10,32}$")]
_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U


def derived_rescue_code(site: str, device_id: str) -> str:
    """Six characters from the car's site and device id: stable across imports, easy to
    read out on the phone (no I, L, O or U to confuse with 1, 0 and V)."""
    number = int.from_bytes(hashlib.sha256(f"{site}/{device_id}".encode()).digest()[:4])
    return "".join(_CODE_ALPHABET[(number >> (5 * i)) & 31] for i in range(6))


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
    certificate_number: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """The last inspection's certificate (检验合格证) number."""
    certificate_valid_until: date | None = None
    """Its last valid day; a year from the inspection (less a day) when not given."""
    maintenance_contractor: Text | None = None
    rescue_code: RescueCode | None = None
    """Shown in the car; derived from the site and device id when not given."""
    registration_code: RegistrationCode | None = None
    """The equipment registration code regulators know the car by (none: not reported)."""

    @model_validator(mode="after")
    def _inspected_after_install(self) -> Self:
        inspected = self.last_safety_inspection
        if inspected is not None and inspected < self.install_date:
            raise ValueError(
                f"last_safety_inspection {inspected} is before install_date {self.install_date}"
            )
        for name in ("certificate_number", "certificate_valid_until"):
            if getattr(self, name) is not None and inspected is None:
                raise ValueError(f"{name} needs last_safety_inspection (the inspection's date)")
        until = self.certificate_valid_until
        if inspected is not None and until is not None and until < inspected:
            raise ValueError(
                f"certificate_valid_until {until} is before last_safety_inspection {inspected}"
            )
        return self

    def certificate(self) -> Certificate | None:
        """The last inspection's certificate, as the site file gives it."""
        inspected = self.last_safety_inspection
        if inspected is None:
            return None
        until = self.certificate_valid_until or default_valid_until(inspected)
        return Certificate(inspected, until, self.certificate_number)


class ChargerCabinet(_Device):
    kind = "charger_cabinet"

    ports: Annotated[int, Field(ge=1, le=64)]


class SmokeAlarm(_Device):
    kind = "smoke_alarm"


Device = Elevator | ChargerCabinet | SmokeAlarm


class Registration(BaseModel):
    """What registering a quarantined sender needs (:mod:`maintenance.services.quarantine`):
    nothing for a gateway; for a device, the building it is in and its facts as the site
    file gives them (exactly one of ``elevator``, ``charger_cabinet``, ``smoke_alarm``,
    its ``name`` the entry's device id). The API's body and the CLI's file."""

    model_config = ConfigDict(extra="forbid")

    building: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=64)
    elevator: Elevator | None = None
    charger_cabinet: ChargerCabinet | None = None
    smoke_alarm: SmokeAlarm | None = None

    @model_validator(mode="after")
    def _one_device(self) -> Self:
        given = [d for d in (self.elevator, self.charger_cabinet, self.smoke_alarm) if d]
        if len(given) > 1:
            raise ValueError("give one of elevator, charger_cabinet, smoke_alarm, not several")
        if given and self.building is None:
            raise ValueError("a device needs the building it is in")
        return self

    def device(self) -> Device | None:
        return self.elevator or self.charger_cabinet or self.smoke_alarm


class Building(_Strict):
    name: Name
    title: Text | None = None
    floors: Annotated[int, Field(ge=1, le=200)] | None = None
    elevators: list[Elevator] = []
    chargers: list[ChargerCabinet] = []
    smoke_alarms: list[SmokeAlarm] = []

    def devices(self) -> list[Device]:
        return [*self.elevators, *self.chargers, *self.smoke_alarms]


class RescuePolicy(_Strict):
    """A site's rescue settings (the site file's ``rescue`` block); all optional."""

    area: Literal["city", "elsewhere"] = "city"
    """Sets the arrival target: 30 minutes in a city area, 60 elsewhere."""
    arrive_within: Annotated[Minutes, Field(gt=timedelta(0))] | None = None
    """Overrides the area's arrival target."""
    respond_within: Annotated[Minutes, Field(gt=timedelta(0))] = timedelta(minutes=10)
    backup_maintainer: Party | None = None
    """Told at the breach; without one, the chain goes straight to emergency services."""
    emergency_services: Party = "119"
    emergency_after: Annotated[Minutes, Field(ge=timedelta(0))] = timedelta(minutes=15)
    """Time past the breach before emergency services are told (0: at the breach)."""

    def targets(self, contracted_maintainer: str | None) -> RescueTargets:
        """The targets a rescue at this site opens with."""
        parties = [("backup_maintainer", self.backup_maintainer, timedelta(0))]
        parties.append(("emergency_services", self.emergency_services, self.emergency_after))
        chain = [(notify, who, after) for notify, who, after in parties if who is not None]
        return RescueTargets(
            respond_within=self.respond_within,
            arrive_within=self.arrive_within or AREA_ARRIVAL[self.area],
            contracted_maintainer=contracted_maintainer,
            chain=tuple(
                ChainStep(level, notify, who, after)
                for level, (notify, who, after) in enumerate(chain, start=1)
            ),
        )

    def stored(self) -> dict[str, Any]:
        """As the site row keeps it: durations in whole minutes, read back by validation."""
        return {
            name: value // MINUTE if isinstance(value, timedelta) else value
            for name, value in self.model_dump().items()
        }


class SiteFile(_Strict):
    site: Name
    name: Text
    address: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    timezone: Annotated[str, Field(max_length=64)] = DEFAULT_TIMEZONE
    """IANA zone the site's people read times in (pages, months); storage stays UTC."""
    rescue: RescuePolicy = RescuePolicy()
    gateways: list[Name] = []
    """The site's gateway ids: the maintenance worker believes only these gateways (and
    quarantines what any other sends, see :mod:`maintenance.gatekeeper`)."""
    buildings: Annotated[list[Building], Field(min_length=1)]

    @field_validator("gateways")
    @classmethod
    def _gateways_unique(cls, gateways: list[str]) -> list[str]:
        twice = sorted({name for name in gateways if gateways.count(name) > 1})
        if twice:
            raise ValueError(f"gateway {twice[0]} appears twice")
        return gateways

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

    @model_validator(mode="after")
    def _rescue_codes_unique(self) -> Self:
        seen: dict[str, str] = {}
        for building in self.buildings:
            for car in building.elevators:
                code = car.rescue_code or derived_rescue_code(self.site, car.name)
                if code in seen:
                    raise ValueError(
                        f"rescue code {code} of {car.name} is also {seen[code]}'s:"
                        " give one of them its own rescue_code"
                    )
                seen[code] = car.name
        return self


def validate_site(raw: Any, source: str) -> SiteFile:
    """Validate a parsed site file (e.g. an upload); errors name ``source`` and the field."""
    return validate(SiteFile, raw, source)


def site_from_inventory(
    inventory: dict[str, Any], site: str, gateway_id: str, *, installed: date
) -> SiteFile:
    """The register of a simulated compound (what ``estatewatch simulate --inventory``
    wrote): its buildings and devices, and ``gateway_id``, with plausible facts for what
    the inventory does not say (an elevator's make, rated load and speed, floors)."""
    buildings: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in inventory["devices"]:
        devices = buildings.setdefault(row["building"], {})
        entry: dict[str, Any] = {"name": row["device_id"]}
        profile = str(row["profile"])
        if profile.startswith("elevator"):
            entry |= {
                "make": "simulated",
                "model": profile,
                "install_date": installed,
                "rated_load_kg": 1000,
                "rated_speed_mps": 1.75,
                "floors_served": 20,
            }
            devices.setdefault("elevators", []).append(entry)
        elif profile.startswith("charger"):
            devices.setdefault("chargers", []).append(entry | {"ports": 8})
        else:
            devices.setdefault("smoke_alarms", []).append(entry)
    raw = {
        "site": site,
        "name": f"simulated compound {site}",
        "gateways": [gateway_id],
        "buildings": [{"name": name, **devices} for name, devices in sorted(buildings.items())],
    }
    return validate_site(raw, "inventory")


def load_site_file(path: Path) -> SiteFile:
    """Read and validate a site file; ConfigError names the file and field on failure."""
    return validate_site(read_yaml(path), str(path))
