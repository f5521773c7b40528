"""``work_order.resolution``: how a closed order ended when not through its steps
(``self_cleared``: its only alarm cleared before anyone acknowledged it), else NULL.

Revision ID: 0020
Revises: 0019

Orders closed before this revision keep NULL: they were all worked through their steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("work_order", sa.Column("resolution", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("work_order", "resolution")
