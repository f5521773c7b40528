"""Elevator inspections: ``elevator_inspection`` (each car's certificates) and
``inspection_step`` (the reminders and expiry sent for each, once).

Revision ID: 0015
Revises: 0014

Cars with a ``last_safety_inspection`` get it as their first certificate, valid for a
year less a day (as a site file import would record it), so their status is known
without importing the site file again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_YEAR_LESS_A_DAY = sa.literal_column("interval '1 year' - interval '1 day'", sa.Interval())


def upgrade() -> None:
    inspection = op.create_table(
        "elevator_inspection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("certificate_number", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["asset.id"], name=op.f("fk_elevator_inspection_asset_id_asset")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_elevator_inspection")),
        sa.UniqueConstraint(
            "asset_id", "inspected_on", name=op.f("uq_elevator_inspection_asset_id_inspected_on")
        ),
    )
    op.create_table(
        "inspection_step",
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["elevator_inspection.id"],
            name=op.f("fk_inspection_step_inspection_id_elevator_inspection"),
        ),
        sa.PrimaryKeyConstraint("inspection_id", "step", name=op.f("pk_inspection_step")),
    )
    asset = sa.table(
        "asset",
        sa.column("id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("last_safety_inspection", sa.Date()),
    )
    inspected = asset.c.last_safety_inspection
    valid_until: sa.ColumnElement[Any]
    now: sa.ColumnElement[Any]
    if op.get_bind().dialect.name == "sqlite":
        valid_until = sa.func.date(inspected, "+1 year", "-1 day")
        now = sa.func.datetime("now")  # UTC
    else:  # PostgreSQL (which moves a 29 February inspection a day earlier: rare enough)
        valid_until = sa.cast(inspected + _YEAR_LESS_A_DAY, sa.Date)
        now = sa.func.timezone("UTC", sa.func.now())
    op.execute(
        inspection.insert().from_select(
            ["asset_id", "inspected_on", "valid_until", "recorded_by", "recorded_at"],
            sa.select(asset.c.id, inspected, valid_until, sa.literal("system"), now).where(
                asset.c.kind == "elevator", inspected.is_not(None)
            ),
        )
    )


def downgrade() -> None:
    op.drop_table("inspection_step")
    op.drop_table("elevator_inspection")
