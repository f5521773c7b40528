"""Notifications: ``notification`` (the relay's outbox, one message per recipient and
channel), ``notification_attempt`` (every try) and ``notification_cursor`` (how far the
relay has read the audit trail, one row).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("audit_id", sa.BigInteger(), nullable=False),
        sa.Column("work_order_id", sa.String(length=32), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("fold_key", sa.String(length=400), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_notification_status")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_notification_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index(
        op.f("ix_notification_status_next_attempt_at"),
        "notification",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        op.f("ix_notification_site_channel_recipient_fold_key_created_at"),
        "notification",
        ["site", "channel", "recipient", "fold_key", "created_at"],
    )
    op.create_index(op.f("ix_notification_work_order_id"), "notification", ["work_order_id"])
    op.create_table(
        "notification_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "result IN ('delivered', 'retrying', 'refused', 'gave_up')",
            name=op.f("ck_notification_attempt_result"),
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notification.id"],
            name=op.f("fk_notification_attempt_notification_id_notification"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempt")),
    )
    op.create_index(
        op.f("ix_notification_attempt_notification_id"),
        "notification_attempt",
        ["notification_id"],
    )
    op.create_table(
        "notification_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("audit_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_notification_cursor_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_cursor")),
    )


def downgrade() -> None:
    op.drop_table("notification_cursor")
    op.drop_index(op.f("ix_notification_attempt_notification_id"), "notification_attempt")
    op.drop_table("notification_attempt")
    op.drop_index(op.f("ix_notification_work_order_id"), "notification")
    op.drop_index(
        op.f("ix_notification_site_channel_recipient_fold_key_created_at"), "notification"
    )
    op.drop_index(op.f("ix_notification_status_next_attempt_at"), "notification")
    op.drop_table("notification")
