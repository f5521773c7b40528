"""Rescue orders: a site's rescue settings, each car's rescue code, a rescue order's
timeline (``work_order_rescue``) and arrivals on site (``work_order_arrival``).

Revision ID: 0012
Revises: 0011

Existing sites keep the default settings (a city area) and existing cars get no code
until their site file is imported again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("site", sa.Column("rescue", sa.JSON(), nullable=True))
    with op.batch_alter_table("asset") as batch:  # SQLite adds constraints by copying
        batch.add_column(sa.Column("rescue_code", sa.String(length=12), nullable=True))
        batch.create_unique_constraint(op.f("uq_asset_rescue_code"), ["rescue_code"])
    op.create_table(
        "work_order_rescue",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.Column("arrived_at", sa.DateTime(), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("false_alarm_reason", sa.Text(), nullable=True),
        sa.Column("respond_within_min", sa.Integer(), nullable=False),
        sa.Column("arrive_within_min", sa.Integer(), nullable=False),
        sa.Column("contracted_maintainer", sa.String(length=200), nullable=True),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_order.id"], name=op.f("fk_work_order_rescue_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_work_order_rescue")),
    )
    op.create_table(
        "work_order_arrival",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("by_user", sa.String(length=100), nullable=False),
        sa.Column("by_role", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_order.id"], name=op.f("fk_work_order_arrival_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_work_order_arrival")),
    )


def downgrade() -> None:
    op.drop_table("work_order_arrival")
    op.drop_table("work_order_rescue")
    with op.batch_alter_table("asset") as batch:
        batch.drop_constraint(op.f("uq_asset_rescue_code"), type_="unique")
        batch.drop_column("rescue_code")
    with op.batch_alter_table("site") as batch:
        batch.drop_column("rescue")
