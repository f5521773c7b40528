"""PostgreSQL's audit guard refuses with an integrity error, as SQLite's does.

Revision ID: 0017
Revises: 0016

Revision 0001's trigger function raised a plain exception (SQLSTATE P0001), which the
driver reports as a programming error; SQLite's ``RAISE(ABORT)`` is a constraint failure.
A refused change to an audit row is a broken integrity rule on both, so callers can catch
one error class (``IntegrityError``) whatever the database. SQLite is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _refuse(errcode: str | None) -> str:
    using = f" USING ERRCODE = '{errcode}'" if errcode else ""
    return (
        "CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP{using}; END $$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_refuse("restrict_violation"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_refuse(None))
