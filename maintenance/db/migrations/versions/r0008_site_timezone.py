"""A site's time zone: the IANA zone its pages show times in and its months are counted in.

Revision ID: 0008
Revises: 0007

Existing sites get Asia/Shanghai, the site file's default; importing the file again sets
the zone it names.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "site",
        sa.Column("timezone", sa.String(length=64), server_default="Asia/Shanghai", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("site") as batch:  # SQLite drops columns by copying
        batch.drop_column("timezone")
