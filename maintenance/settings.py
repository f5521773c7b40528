"""Maintenance settings: command-line options over ``ESTATEWATCH_MAINTENANCE_*`` variables.

Validated at start; an error names the setting. The database is ``db_url`` when given
(any SQLAlchemy async URL, e.g. ``postgresql+asyncpg://user@host/estatewatch``), else an
SQLite file in ``data_dir``. Put a password in the environment
(``ESTATEWATCH_MAINTENANCE_DB_URL``), not on the command line, where process listings
show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from estatewatch.mqtt import ALL_SITES, parse_sites
from estatewatch.screen import ScreenSettings
from maintenance.db.engine import default_url
from maintenance.domain.rules.offline import GATEWAY_GRACE_S


def _paths(value: object) -> object:
    """``a.yaml,b.yaml`` (the environment's form) as a list of paths."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class MaintenanceSettings(ScreenSettings):
    """The worker's central checks (``max_ahead``, ``max_age``, ``max_readings``,
    ``tag_keys``) come from :class:`ScreenSettings`."""

    model_config = SettingsConfigDict(env_prefix="ESTATEWATCH_MAINTENANCE_", extra="forbid")

    data_dir: Path = Path("var/maintenance")
    db_url: str | None = None

    # The worker (estatewatch maintenance run).
    mqtt_host: str = "127.0.0.1"
    mqtt_port: Annotated[int, Field(gt=0, lt=65536)] = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    client_id: str = "estatewatch-maintenance-1"  # names the persistent MQTT session
    # The sites this worker judges ("a,b" in the environment; + is every site). The rule
    # engine keeps per-device state, so each site must belong to exactly one worker; the
    # worker's timers (time rules, SLA escalations, plans, inspections) cover these sites.
    sites: Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_sites)] = ALL_SITES
    # Run the relays that read the whole audit trail (webhooks, the regulator feed,
    # notifications). They are per database, not per site: with several workers on one
    # database exactly one runs them, the others are started with relays off.
    relays: bool = True
    rules_path: Path | None = None  # None: the shipped maintenance/rules/default.yaml
    sla_policy_path: Path | None = None  # None: the built-in SLA policy (P1 10 min / 1 h / 4 h)
    webhooks_path: Path | None = None  # None: no webhooks
    # Notifications (maintenance/channels, maintenance/notification_relay.py): the sites'
    # channels file (None: none sent) and the web app's address for the links in them
    # (the same as ESTATEWATCH_API_PUBLIC_BASE_URL).
    notify_path: Path | None = None
    public_base_url: str | None = None
    # The maintenance checklist (None: the shipped TSG T5002 traction-elevator items) and
    # a site's extra items ("a.yaml,b.yaml" in the environment).
    checklist_path: Path | None = None
    checklist_extra: Annotated[tuple[Path, ...], NoDecode, BeforeValidator(_paths)] = ()
    # Seconds a gateway's "offline" (its status or MQTT last will) waits for its "online"
    # before gateway_offline is raised: a broker restart or a gateway restart within it
    # opens nothing.
    gateway_offline_grace: Annotated[float, Field(ge=0, le=86400)] = GATEWAY_GRACE_S
    tick_interval: Annotated[float, Field(gt=0, le=60)] = 1.0
    sla_interval: Annotated[float, Field(gt=0, le=3600)] = 15.0
    snapshot_interval: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # Seconds between runs of the maintenance-plan scheduler (visits, overdue alarms).
    plan_interval: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    # Inspection certificates change by the day; an hourly look sends a reminder within
    # the hour its day begins at the site.
    inspection_interval: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    # Prometheus /metrics (maintenance/metrics.py); 0: none. 0.0.0.0 in a container.
    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Field(ge=0, lt=65536)] = 0
    # Migrate the database at start instead of refusing one that is behind. Off: one
    # process (`estatewatch maintenance db upgrade`) migrates, so two never race.
    migrate: bool = False

    @field_validator("db_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
            is_async = url.get_dialect().is_async
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ValueError(f"not a usable SQLAlchemy URL: {exc}") from exc
        if not is_async:
            raise ValueError(
                f"{url.drivername} is a synchronous driver; use an async one, e.g."
                " sqlite+aiosqlite:///path or postgresql+asyncpg://host/db"
            )
        return value

    @model_validator(mode="after")
    def _links_need_an_address(self) -> MaintenanceSettings:
        if self.notify_path is not None and not self.public_base_url:
            raise ValueError(
                "public_base_url: notifications link to the web app; give its address"
                " (e.g. https://estate.example.com) with notify_path"
            )
        return self

    @property
    def database_url(self) -> str:
        return self.db_url or default_url(self.data_dir)
