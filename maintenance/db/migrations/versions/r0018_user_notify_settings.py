"""A user's own notification settings on ``api_user``: ``email`` (their address; NULL:
none of their own), ``chat_handle`` (how a chat robot @mentions them), ``notify_email``
and ``notify_chat`` (the channels they want: email yes, chat no, for everyone already
there) and ``quiet_start`` / ``quiet_end`` (quiet hours for non-P1 notices, site time;
both NULL: none).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_user", sa.Column("email", sa.String(length=254), nullable=True))
    op.add_column("api_user", sa.Column("chat_handle", sa.String(length=64), nullable=True))
    op.add_column(
        "api_user",
        sa.Column("notify_email", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "api_user",
        sa.Column("notify_chat", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("api_user", sa.Column("quiet_start", sa.Time(), nullable=True))
    op.add_column("api_user", sa.Column("quiet_end", sa.Time(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_user") as batch:  # SQLite drops columns by copying
        for column in ("quiet_end", "quiet_start", "notify_chat", "notify_email"):
            batch.drop_column(column)
        batch.drop_column("chat_handle")
        batch.drop_column("email")
