"""A notification need not be about a work order: ``notification.work_order_id`` may be
NULL (a committee notice about a proposal, a site's daily digest).

Revision ID: 0019
Revises: 0018

Downgrading deletes those notifications and their attempts, since the old schema has no
place for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:  # SQLite alters by copying
        batch.alter_column("work_order_id", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    orphans = "SELECT id FROM notification WHERE work_order_id IS NULL"
    op.execute(f"DELETE FROM notification_attempt WHERE notification_id IN ({orphans})")
    op.execute("DELETE FROM notification WHERE work_order_id IS NULL")
    with op.batch_alter_table("notification") as batch:
        batch.alter_column("work_order_id", existing_type=sa.String(length=32), nullable=False)
