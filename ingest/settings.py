"""Ingest settings: command-line options over ``ESTATEWATCH_INGEST_*`` environment variables.

Validated at start; an error names the setting. Secrets come from the environment
(``ESTATEWATCH_INGEST_INFLUX_PASSWORD``, ``..._INFLUX_TOKEN``, ``..._MQTT_PASSWORD``) so
they stay out of process listings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from estatewatch.mqtt import ALL_SITES, parse_sites
from estatewatch.screen import ScreenSettings


class IngestSettings(ScreenSettings):
    """The central checks' settings (``max_ahead``, ``max_age``, ``max_readings``,
    ``tag_keys``) come from :class:`ScreenSettings`."""

    model_config = SettingsConfigDict(env_prefix="ESTATEWATCH_INGEST_", extra="forbid")

    mqtt_host: str = "127.0.0.1"
    mqtt_port: Annotated[int, Field(gt=0, lt=65536)] = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    client_id: str = "estatewatch-ingest-1"  # one per worker: it names the persistent session
    # The sites this worker stores ("a,b" in the environment; + is every site). Workers
    # split the load by owning different sites (plain subscriptions, see estatewatch.mqtt).
    sites: Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_sites)] = ALL_SITES

    # An environment variable arrives as text: "2" must mean 2.
    influx_version: Annotated[Literal[1, 2], BeforeValidator(int)] = 1
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "estatewatch"  # 1.x
    influx_retention_policy: str | None = None  # 1.x
    influx_username: str | None = None  # 1.x
    influx_password: str | None = None  # 1.x
    influx_org: str | None = None  # 2.x
    influx_bucket: str | None = None  # 2.x
    influx_token: str | None = None  # 2.x

    batch_points: Annotated[int, Field(ge=1, le=100_000)] = 5000
    batch_delay: Annotated[float, Field(gt=0, le=60)] = 1.0
    spill_path: Path = Path("var/ingest/spill.sqlite")
    spill_max_bytes: Annotated[int, Field(gt=0)] = 1024**3
    dead_letter_path: Path = Path("var/ingest/dead_letters.jsonl")
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can scrape it
    metrics_port: Annotated[int, Field(ge=0, lt=65536)] = 9108  # 0: no metrics endpoint
    # How long the broker keeps a stopped worker's session and queues its share for it.
    session_expiry_s: Annotated[int, Field(ge=0, le=2**32 - 1)] = 86_400

    @model_validator(mode="after")
    def _v2_needs_its_keys(self) -> IngestSettings:
        if self.influx_version == 2:
            missing = [
                name
                for name in ("influx_org", "influx_bucket", "influx_token")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"InfluxDB 2.x needs {', '.join(missing)}")
        return self
