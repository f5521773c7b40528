"""API settings: command-line options over ``ESTATEWATCH_API_*`` environment variables.

The database is the maintenance service's: ``db_url`` when given (any SQLAlchemy async
URL), else the SQLite file ``maintenance.db`` in ``data_dir`` (``var/maintenance``, the
worker's default, so both share one database). Put a password in the environment
(``ESTATEWATCH_API_DB_URL``), not on the command line. ``influx_url`` unset leaves the
telemetry routes answering 503 and ``/readyz`` not checking InfluxDB.

Work-order photos are files under ``photos_dir`` (default ``<data_dir>/photos``). A
request body is at most ``max_body_bytes``, except a multipart form (a photo upload),
which may carry up to ``upload_max_bytes``; each photo in it at most ``photo_max_bytes``.

The web app (:mod:`api.web`): ``public_base_url`` is the address people reach it at
(invite and reset links, QR codes; unset: the address of the request that made the
link). ``cookie_secure`` None marks the session cookie ``Secure`` when the request came
over https (a TLS proxy on 127.0.0.1 says so in ``X-Forwarded-Proto``, which
uvicorn trusts; ``FORWARDED_ALLOW_IPS`` names another) or the public base
URL is https; True or False forces it. ``vendor_dir`` is where ``npm ci`` put the
front-end packages (default: ``node_modules`` beside the code).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from maintenance.db.engine import default_url
from maintenance.settings import MaintenanceSettings

__all__ = ["ApiSettings"]

Port = Annotated[int, Field(gt=0, lt=65536)]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESTATEWATCH_API_", extra="forbid")

    host: str = "127.0.0.1"
    port: Port = 8000
    # Prometheus /metrics on a listener of its own, never on the public port (see
    # api/metrics.py); 0: none. 0.0.0.0 in a container, kept off the proxy's routes.
    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Field(ge=0, lt=65536)] = 0

    data_dir: Path = Path("var/maintenance")
    db_url: str | None = None
    sla_policy_path: Path | None = None  # None: the built-in SLA policy

    # Checked by /readyz: the central broker the worker consumes from.
    mqtt_host: str = "127.0.0.1"
    mqtt_port: Port = 1883

    influx_url: str | None = None  # e.g. http://127.0.0.1:8086
    influx_database: str = "estatewatch"
    influx_username: str | None = None
    influx_password: str | None = None

    page_size_max: Annotated[int, Field(ge=1, le=10_000)] = 200
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1 << 20  # larger requests: 413
    photos_dir: Path | None = None  # None: <data_dir>/photos
    photo_max_bytes: Annotated[int, Field(ge=1024)] = 10 << 20
    # Room for a form of three phone photos; one larger is refused before it is read.
    upload_max_bytes: Annotated[int, Field(ge=1024)] = 32 << 20
    token_lifetime: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(days=30)
    readiness_timeout: Annotated[float, Field(gt=0, le=30)] = 2.0
    public_base_url: str | None = None  # e.g. https://estate.example.com
    cookie_secure: bool | None = None
    session_lifetime: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(days=14)
    session_idle: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(days=3)
    invite_lifetime: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(days=7)
    vendor_dir: Path | None = None
    # Live changes (api.live): how often the hub polls the audit trail, how many bytes of
    # events a client may fall behind before it is dropped, the keep-alive's period.
    live_poll_interval: Annotated[float, Field(gt=0, le=10)] = 0.5
    live_queue_bytes: Annotated[int, Field(ge=4096)] = 1 << 20
    live_keep_alive: Annotated[float, Field(gt=0, le=300)] = 15.0
    # Migrate the database at start instead of refusing one that is behind (see
    # maintenance.db.migrations: one process migrates).
    migrate: bool = False

    # The same check as the worker's, so both refuse the same URLs with the same words.
    _async_driver = field_validator("db_url")(MaintenanceSettings._async_driver.__func__)  # type: ignore[attr-defined]

    @property
    def photo_root(self) -> Path:
        return self.photos_dir or self.data_dir / "photos"

    @property
    def database_url(self) -> str:
        return self.db_url or default_url(self.data_dir)
