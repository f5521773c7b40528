"""GB/T 24476: the code on alarms and work orders, and each elevator's registration code.

Revision ID: 0014
Revises: 0013

Existing alarms and orders keep no code (they were raised before rules carried one);
existing cars get their registration code when their site file is imported again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alarm", sa.Column("code", sa.String(length=2), nullable=True))
    op.add_column("work_order", sa.Column("code", sa.String(length=2), nullable=True))
    with op.batch_alter_table("asset") as batch:  # SQLite adds constraints by copying
        batch.add_column(sa.Column("registration_code", sa.String(length=32), nullable=True))
        batch.create_unique_constraint(op.f("uq_asset_registration_code"), ["registration_code"])


def downgrade() -> None:
    with op.batch_alter_table("asset") as batch:
        batch.drop_constraint(op.f("uq_asset_registration_code"), type_="unique")
        batch.drop_column("registration_code")
    op.drop_column("work_order", "code")
    op.drop_column("alarm", "code")
