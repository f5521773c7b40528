"""The model registry: importing this module puts every table and index of the
maintenance schema on one metadata, :data:`metadata`.

Alembic's ``env.py`` compares the database with this metadata (autogenerate, ``alembic
check``), and a test checks that the migrations create exactly what it holds. A new model
module is imported here, or the comparison cannot see it. Revisions never import this (or
any application module): each spells out its own tables, so history stays as it was.
"""

from __future__ import annotations

from sqlalchemy import MetaData

# Imported for their side effect: each declares its tables (or indexes) on Base.metadata.
from maintenance.db import (
    committee,
    inspection_tables,
    notifications,
    photos,
    plans,
    quarantine_tables,
    rescue_tables,
    tables,
    user_tables,
    web_tables,
    webhook_cursor,
)
from maintenance.db.read import indexes

__all__ = ["MODEL_MODULES", "metadata"]

MODEL_MODULES: tuple[str, ...] = tuple(
    module.__name__
    for module in (
        tables,
        committee,
        user_tables,
        web_tables,
        webhook_cursor,
        photos,
        rescue_tables,
        plans,
        inspection_tables,
        notifications,
        quarantine_tables,
        indexes,
    )
)
"""The modules that declare the schema, for messages and tests."""

metadata: MetaData = tables.Base.metadata
