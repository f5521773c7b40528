"""Maintenance plans and visit records: ``maintenance_plan``, ``maintenance_plan_limits``,
``maintenance_visit``.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "maintenance_plan",
        sa.Column("asset", sa.String(length=300), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("anchor", sa.Date(), nullable=False),
        sa.Column("interval_days", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("last_visit_on", sa.Date(), nullable=True),
        sa.Column("last_done", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("asset", name=op.f("pk_maintenance_plan")),
    )
    op.create_index(op.f("ix_maintenance_plan_site"), "maintenance_plan", ["site"])
    op.create_table(
        "maintenance_plan_limits",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("min_days", sa.Integer(), nullable=False),
        sa.Column("max_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_maintenance_plan_limits")),
    )
    op.create_table(
        "maintenance_visit",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=300), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("technicians", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=True),
        sa.Column("defect_orders", sa.JSON(), nullable=False),
        sa.Column("signed_by", sa.String(length=100), nullable=True),
        sa.Column("signed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_order.id"],
            name=op.f("fk_maintenance_visit_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_maintenance_visit")),
    )
    op.create_index(
        op.f("ix_maintenance_visit_asset_due_on"), "maintenance_visit", ["asset", "due_on"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_maintenance_visit_asset_due_on"), table_name="maintenance_visit")
    op.drop_table("maintenance_visit")
    op.drop_table("maintenance_plan_limits")
    op.drop_index(op.f("ix_maintenance_plan_site"), table_name="maintenance_plan")
    op.drop_table("maintenance_plan")
