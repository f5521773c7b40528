"""Maintenance settings: command-line options over ``ESTATEWATCH_MAINTENANCE_*`` variables.

Validated at start; an error names the setting. The database is ``db_url`` when given
(any SQLAlchemy async URL, e.g. ``postgresql+asyncpg://user@host/estatewatch``), else an
SQLite file in ``data_dir``. Put a password in the environment
(``ESTATEWATCH_MAINTENANCE_DB_URL``), not on the command line, where process listings
show it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from maintenance.db.engine import default_url


class MaintenanceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESTATEWATCH_MAINTENANCE_", extra="forbid")

    data_dir: Path = Path("var/maintenance")
    db_url: str | None = None

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

    @property
    def database_url(self) -> str:
        return self.db_url or default_url(self.data_dir)
