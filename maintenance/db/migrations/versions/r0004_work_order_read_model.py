"""Indexes for the API's work-order and alarm lists (maintenance.db.read).

Each list filter (site, status, assignee, requester) gets an index ending in the keyset
sort (``created_at, id``), so a page of 50 out of 100,000 orders reads about 50 index
entries instead of scanning the table. Due and overdue were then computed from the SLA
policy at query time, so no column was added (revision 0007 stores the due time).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, columns), as maintenance.db.read.indexes declared them at this revision.
_INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    ("ix_work_order_created_at_id", "work_order", ["created_at", "id"]),
    ("ix_work_order_site_created_at_id", "work_order", ["site", "created_at", "id"]),
    ("ix_work_order_status_created_at_id", "work_order", ["status", "created_at", "id"]),
    ("ix_work_order_assignee_created_at_id", "work_order", ["assignee", "created_at", "id"]),
    (
        "ix_work_order_requested_by_created_at_id",
        "work_order",
        ["requested_by", "created_at", "id"],
    ),
    ("ix_work_order_priority_id", "work_order", ["priority", "id"]),
    ("ix_alarm_raised_at_id", "alarm", ["raised_at", "id"]),
    ("ix_alarm_site_raised_at_id", "alarm", ["site", "raised_at", "id"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
