"""The site configuration file of a gateway (YAML), validated at start.

Every error names the file and the field (``site.yaml: modbus.endpoints[0] (b1).devices[2]
(elev-03).profile: ...``). See ``infra/gateway/site.example.yaml`` for a commented example.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from estatewatch.catalogue import Catalogue
from estatewatch.durations import parse_duration
from estatewatch.errors import ConfigError
from estatewatch.sizes import parse_size
from estatewatch.validation import load_yaml_model
from estatewatch.wire import NAME_PATTERN

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Bytes = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]

_Strict = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(BaseModel):
    model_config = _Strict
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False  # skip hostname checks; for test benches only


class BrokerConfig(BaseModel):
    model_config = _Strict
    host: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536)] = 1883
    tls: TlsConfig | None = None
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    keepalive: Seconds = 30.0

    @model_validator(mode="after")
    def _credentials(self) -> BrokerConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class UplinkConfig(BrokerConfig):
    batch_interval: Seconds = 1.0  # readings of a device gathered into one message
    max_readings_per_message: Annotated[int, Field(ge=1, le=10_000)] = 60
    # 2: each flush's telemetry of all devices in one bundle; 1 for central services
    # that predate wire version 2 (one message per device).
    wire_version: Literal[1, 2] = 2
    max_inflight: Annotated[int, Field(ge=1, le=65_535)] = 100
    status_interval: Seconds = 30.0


class BufferConfig(BaseModel):
    model_config = _Strict
    path: Path = Path("var/gateway/buffer.sqlite")
    max_bytes: Bytes = 256 * 1024**2
    # fsync every commit: a power cut then loses only what was not yet committed.
    fsync: bool = True


class MetricsConfig(BaseModel):
    """The gateway's Prometheus endpoint (gateway/prometheus.py); port 0: none."""

    model_config = _Strict
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, lt=65536)] = 0


class ReportConfig(BaseModel):
    """What a poll puts on the wire."""

    model_config = _Strict
    mode: Literal["always", "on_change"] = "always"
    deadband: dict[str, Annotated[float, Field(ge=0)]] = {}  # field name -> absolute change
    full_every: Seconds = 60.0  # on_change: a full report at least this often


class TcpConfig(BaseModel):
    model_config = _Strict
    host: str
    port: Annotated[int, Field(gt=0, lt=65536)] = 502


class RtuConfig(BaseModel):
    model_config = _Strict
    port: str  # /dev/ttyUSB0, or a virtual serial line
    baudrate: Annotated[int, Field(gt=0)] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class DeviceConfig(BaseModel):
    model_config = _Strict
    name: Name  # the device id on the wire
    unit: Annotated[int, Field(ge=1, le=247)] = 1
    profile: str
    tags: dict[str, str] = {}
    poll: dict[str, Seconds] = {}  # poll group -> interval; the profile's defaults otherwise
    report: ReportConfig = ReportConfig()


class EndpointConfig(BaseModel):
    model_config = _Strict
    name: Name
    tcp: TcpConfig | None = None
    rtu: RtuConfig | None = None
    timeout: Seconds = 1.0
    # Registers a request may read across between two fields to save a request.
    max_gap: Annotated[int, Field(ge=0, le=100)] = 16
    devices: Annotated[list[DeviceConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_transport(self) -> EndpointConfig:
        if (self.tcp is None) == (self.rtu is None):
            raise ValueError("an endpoint needs exactly one of tcp or rtu")
        units = [d.unit for d in self.devices]
        if len(units) != len(set(units)):
            raise ValueError("two devices on one endpoint share a unit id")
        return self


class MqttSourceConfig(BrokerConfig):
    name: Name
    topic: str  # e.g. vendor/smoke/+/up
    profile: str = "smoke-alarm"
    # Tags for known devices; unknown device ids are accepted with the default tags.
    devices: dict[str, dict[str, str]] = {}
    default_tags: dict[str, str] = {}
    missed_heartbeats: Annotated[int, Field(ge=1)] = 3


class ModbusConfig(BaseModel):
    model_config = _Strict
    endpoints: list[EndpointConfig] = []


class SiteConfig(BaseModel):
    model_config = _Strict
    site: Name
    gateway_id: Name
    uplink: UplinkConfig = UplinkConfig()
    buffer: BufferConfig = BufferConfig()
    metrics: MetricsConfig = MetricsConfig()
    modbus: ModbusConfig = ModbusConfig()
    mqtt_sources: list[MqttSourceConfig] = []

    @model_validator(mode="after")
    def _unique_devices(self) -> SiteConfig:
        names = [d.name for e in self.modbus.endpoints for d in e.devices]
        names += [device for source in self.mqtt_sources for device in source.devices]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"device names must be unique, repeated: {', '.join(duplicates)}")
        return self


def load_site_config(path: Path, catalogue: Catalogue) -> SiteConfig:
    """Load and check a site file against the catalogue; ConfigError names file and field."""
    config = load_yaml_model(SiteConfig, path)
    for i, endpoint in enumerate(config.modbus.endpoints):
        for j, device in enumerate(endpoint.devices):
            where = f"{path}: modbus.endpoints[{i}] ({endpoint.name}).devices[{j}] ({device.name})"
            if device.profile not in catalogue.profiles:
                known = ", ".join(sorted(catalogue.profiles))
                raise ConfigError(f"{where}.profile: unknown profile {device.profile!r} ({known})")
            profile = catalogue[device.profile]
            if profile.protocol != "modbus":
                raise ConfigError(f"{where}.profile: {device.profile} is not a Modbus profile")
            unknown_groups = set(device.poll) - set(profile.poll_groups)
            if unknown_groups:
                raise ConfigError(
                    f"{where}.poll: unknown poll group(s) {sorted(unknown_groups)}"
                    f" (profile {profile.name} has {', '.join(profile.poll_groups)})"
                )
            names = {f.name for f in profile.fields} | {f.key for f in profile.fields}
            unknown_fields = set(device.report.deadband) - names
            if unknown_fields:
                raise ConfigError(
                    f"{where}.report.deadband: no field(s) {sorted(unknown_fields)}"
                    f" in {profile.name}"
                )
    for i, source in enumerate(config.mqtt_sources):
        where = f"{path}: mqtt_sources[{i}] ({source.name}).profile"
        mqtt_profile = catalogue.profiles.get(source.profile)
        if mqtt_profile is None or mqtt_profile.protocol != "mqtt":
            raise ConfigError(f"{where}: {source.profile!r} is not an MQTT profile")
    return config
