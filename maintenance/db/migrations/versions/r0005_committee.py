"""The owners' committee: spending proposals with their evidence, and their votes.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "committee_proposal",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'decided')", name=op.f("ck_committee_proposal_status")
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["asset.id"], name=op.f("fk_committee_proposal_asset_id_asset")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_committee_proposal")),
    )
    op.create_index(
        op.f("ix_committee_proposal_asset_id"), "committee_proposal", ["asset_id"], unique=False
    )
    op.create_table(
        "committee_vote",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("proposal_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=32), nullable=False),
        sa.Column("owners_total", sa.Integer(), nullable=True),
        sa.Column("area_total_m2", sa.String(length=40), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("tally", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "path IN ('owners', 'committee_emergency')", name=op.f("ck_committee_vote_path")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["committee_proposal.id"],
            name=op.f("fk_committee_vote_proposal_id_committee_proposal"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_committee_vote")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_committee_vote_proposal_id")),
    )


def downgrade() -> None:
    op.drop_table("committee_vote")
    op.drop_index(op.f("ix_committee_proposal_asset_id"), table_name="committee_proposal")
    op.drop_table("committee_proposal")
