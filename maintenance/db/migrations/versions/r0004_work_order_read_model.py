"""Indexes for the API's work-order and alarm lists (maintenance.db.read).

Each list filter (site, status, assignee, requester) gets an index ending in the keyset
sort (``created_at, id``), so a page of 50 out of 100,000 orders reads about 50 index
entries instead of scanning the table. Due and overdue are computed from the SLA policy
at query time (see the module docstring of :mod:`maintenance.db.read.sla_due`), so no column
is added.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Index

# The index declarations live with the queries that need them; importing them puts them
# on the metadata whenever this revision is loaded, so migrations and models compare equal.
from maintenance.db.read.indexes import READ_INDEXES

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _parts(index: Index) -> tuple[str, str, list[str]]:
    if index.table is None or index.name is None:
        raise RuntimeError(f"index {index!r} is not bound to a table and named")
    return str(index.name), index.table.name, [column.name for column in index.columns]


def upgrade() -> None:
    for index in READ_INDEXES:
        name, table, columns = _parts(index)
        op.create_index(name, table, columns)


def downgrade() -> None:
    for index in reversed(READ_INDEXES):
        name, table, _ = _parts(index)
        op.drop_index(name, table_name=table)
