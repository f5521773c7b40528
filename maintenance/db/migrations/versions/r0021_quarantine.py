"""The register's gateways and the quarantine: ``site_gateway`` (a site's gateway ids)
and ``quarantine`` (devices and gateways heard from but not in the register: first and
last seen, message count, a sample, and an operator's decision).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_gateway",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_site_gateway_site_id_site")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_gateway")),
        sa.UniqueConstraint(
            "site_id", "gateway_id", name=op.f("uq_site_gateway_site_id_gateway_id")
        ),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("device_type", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("sample", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="held", nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('held', 'blocked', 'registered')", name=op.f("ck_quarantine_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint(
            "site",
            "device_type",
            "device_id",
            name=op.f("uq_quarantine_site_device_type_device_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_table("site_gateway")
