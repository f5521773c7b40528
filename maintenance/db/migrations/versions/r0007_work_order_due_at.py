"""A work order's SLA due time, stored: ``due_at`` and the targets it was computed under.

Revision ID: 0007
Revises: 0006

Existing rows start with NULL; the API and the worker compute the due times of open
orders whose ``due_policy`` differs from their SLA policy's when they start.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("work_order", sa.Column("due_at", sa.DateTime(), nullable=True))
    op.add_column("work_order", sa.Column("due_policy", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_order") as batch:  # SQLite drops columns by copying
        batch.drop_column("due_policy")
        batch.drop_column("due_at")
