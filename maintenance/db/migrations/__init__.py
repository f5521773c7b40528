"""The schema's Alembic revisions, run in code (no alembic.ini).

``await upgrade(engine)`` brings a database to the newest revision inside one
transaction; ``await ensure_current(engine)`` refuses to run a service against a database
that is behind (or ahead of) the code. **One process migrates**: the API and the worker
only check the revision at start (:func:`prepare_schema`), unless started with
``--migrate``; ``estatewatch maintenance db upgrade`` (the compose stack's ``migrate``
service, the demo, the systemd unit's ``ExecStartPre``) is the one that migrates, so two
processes never race to migrate a fresh database. Revisions live in ``versions/`` and must keep the
database equal to the model registry, :mod:`maintenance.db.models` (a test compares them).
A revision imports only alembic and sqlalchemy: it spells out its own tables and indexes,
so changing a model never changes history (a test reads every revision's imports).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from maintenance.db.errors import SchemaNotCurrentError

__all__ = [
    "MIGRATE_COMMAND",
    "alembic_config",
    "current_revision",
    "ensure_current",
    "head_revision",
    "prepare_schema",
    "upgrade",
]

MIGRATE_COMMAND = "estatewatch maintenance db upgrade"
"""The command that migrates the maintenance database, as refusals name it."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, pointing at this package; env.py uses ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaNotCurrentError("maintenance migrations: no revision found")
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default) in one transaction."""

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision; None for a database never migrated."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def ensure_current(engine: AsyncEngine) -> None:
    """Raise SchemaNotCurrentError unless the database is at the code's newest revision."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        raise SchemaNotCurrentError(
            f"maintenance database {where} is at revision {current or '(none)'}, the code"
            f" needs {head}: run '{MIGRATE_COMMAND}'"
        )


async def prepare_schema(engine: AsyncEngine, *, migrate: bool) -> None:
    """At a process's start: migrate when told to (``--migrate``), else only check.

    Raises :class:`SchemaNotCurrentError` (one line naming :data:`MIGRATE_COMMAND`) when
    not migrating and the database is not at the code's revision.
    """
    if migrate:
        await upgrade(engine)
    else:
        await ensure_current(engine)
