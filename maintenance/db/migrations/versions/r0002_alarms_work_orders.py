"""Alarms and work orders, with their notes, holds, approvals, verifications, escalations
sent, linked alarms, and the per-year work-order number counter.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_order",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("asset", sa.String(length=300), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("fault_kind", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_user", sa.String(length=100), nullable=True),
        sa.Column("created_by_role", sa.String(length=32), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("repeat_of", sa.String(length=32), nullable=True),
        sa.Column("assignee", sa.String(length=100), nullable=True),
        sa.Column("entered_at", sa.JSON(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("first_feedback_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolvers", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("cost_estimate", sa.String(length=40), nullable=True),
        sa.Column("cost_actual", sa.String(length=40), nullable=True),
        sa.Column("rating_by_user", sa.String(length=100), nullable=True),
        sa.Column("rating_by_role", sa.String(length=32), nullable=True),
        sa.Column("rating_at", sa.DateTime(), nullable=True),
        sa.Column("rating_stars", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repeat_of"], ["work_order.id"], name=op.f("fk_work_order_repeat_of_work_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order")),
    )
    op.create_index(
        op.f("ix_work_order_asset_fault_kind_closed_at"),
        "work_order",
        ["asset", "fault_kind", "closed_at"],
        unique=False,
    )
    op.create_index(
        "uq_work_order_open_asset_fault",
        "work_order",
        ["asset", "fault_kind"],
        unique=True,
        sqlite_where=sa.text("status NOT IN ('closed', 'cancelled')"),
        postgresql_where=sa.text("status NOT IN ('closed', 'cancelled')"),
    )

    op.create_table(
        "work_order_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_work_order_counter")),
    )
    op.create_table(
        "alarm",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("device_type", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("building", sa.String(length=64), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=True),
        sa.Column("fault_kind", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by_user", sa.String(length=100), nullable=True),
        sa.Column("acknowledged_by_role", sa.String(length=32), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("cleared_at", sa.DateTime(), nullable=True),
        sa.Column("work_order_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["work_order_id"], ["work_order.id"], name=op.f("fk_alarm_work_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm")),
    )
    op.create_index(op.f("ix_alarm_work_order_id"), "alarm", ["work_order_id"], unique=False)
    op.create_index(
        "uq_alarm_active_device_rule",
        "alarm",
        ["site", "device_type", "device_id", "rule"],
        unique=True,
        sqlite_where=sa.text("cleared_at IS NULL"),
        postgresql_where=sa.text("cleared_at IS NULL"),
    )

    op.create_table(
        "work_order_approval",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("by_user", sa.String(length=100), nullable=False),
        sa.Column("by_role", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_order.id"], name=op.f("fk_work_order_approval_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_work_order_approval")),
    )
    op.create_table(
        "work_order_escalation",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("clock", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("notify", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_escalation_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_work_order_escalation")),
        sa.UniqueConstraint(
            "order_id", "clock", "level", name=op.f("uq_work_order_escalation_order_id_clock_level")
        ),
    )
    op.create_table(
        "work_order_hold",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("by_user", sa.String(length=100), nullable=False),
        sa.Column("by_role", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_order.id"], name=op.f("fk_work_order_hold_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_work_order_hold")),
    )
    op.create_table(
        "work_order_note",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("by_user", sa.String(length=100), nullable=False),
        sa.Column("by_role", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_order.id"], name=op.f("fk_work_order_note_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_work_order_note")),
    )
    op.create_table(
        "work_order_verification",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("by_user", sa.String(length=100), nullable=False),
        sa.Column("by_role", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_order.id"],
            name=op.f("fk_work_order_verification_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_work_order_verification")),
    )
    op.create_table(
        "work_order_alarm",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarm.id"], name=op.f("fk_work_order_alarm_alarm_id_alarm")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_order.id"], name=op.f("fk_work_order_alarm_order_id_work_order")
        ),
        sa.PrimaryKeyConstraint("order_id", "position", name=op.f("pk_work_order_alarm")),
    )
    op.create_index(
        op.f("ix_work_order_alarm_alarm_id"), "work_order_alarm", ["alarm_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_work_order_alarm_alarm_id"), table_name="work_order_alarm")

    op.drop_table("work_order_alarm")
    op.drop_table("work_order_verification")
    op.drop_table("work_order_note")
    op.drop_table("work_order_hold")
    op.drop_table("work_order_escalation")
    op.drop_table("work_order_approval")
    op.drop_index("uq_alarm_active_device_rule", table_name="alarm")
    op.drop_index(op.f("ix_alarm_work_order_id"), table_name="alarm")

    op.drop_table("alarm")
    op.drop_table("work_order_counter")
    op.drop_index("uq_work_order_open_asset_fault", table_name="work_order")
    op.drop_index(op.f("ix_work_order_asset_fault_kind_closed_at"), table_name="work_order")

    op.drop_table("work_order")
