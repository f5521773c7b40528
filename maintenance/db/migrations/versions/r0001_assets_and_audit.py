"""Sites, buildings, assets and the append-only audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The database itself refuses to change or remove audit rows, so even a direct SQL
# session has to drop these first (which the hash chain then exposes).
_SQLITE_GUARDS = [
    f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log"
    f" BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
    for verb in ("UPDATE", "DELETE")
]
_POSTGRESQL_GUARDS = [
    "CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP; END $$",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log"
    " FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
]


def upgrade() -> None:
    op.create_table(
        "site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site")),
        sa.UniqueConstraint("code", name=op.f("uq_site_code")),
    )
    op.create_table(
        "building",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("floors", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_building_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_building")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_building_site_id_code")),
    )
    op.create_table(
        "asset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("make", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("install_date", sa.Date(), nullable=True),
        sa.Column("rated_load_kg", sa.Integer(), nullable=True),
        sa.Column("rated_speed_mps", sa.Float(), nullable=True),
        sa.Column("floors_served", sa.Integer(), nullable=True),
        sa.Column("last_safety_inspection", sa.Date(), nullable=True),
        sa.Column("maintenance_contractor", sa.String(length=200), nullable=True),
        sa.Column("ports", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('elevator', 'charger_cabinet', 'smoke_alarm')",
            name=op.f("ck_asset_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["building_id"], ["building.id"], name=op.f("fk_asset_building_id_building")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_asset_site_id_site")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset")),
        sa.UniqueConstraint("site_id", "device_id", name=op.f("uq_asset_site_id_device_id")),
    )
    op.create_index(op.f("ix_asset_building_id"), "asset", ["building_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("from_state", sa.String(length=64), nullable=True),
        sa.Column("to_state", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_log_prev_hash")),
    )
    op.create_index(
        op.f("ix_audit_log_entity_type_entity_id"), "audit_log", ["entity_type", "entity_id"]
    )
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": _SQLITE_GUARDS, "postgresql": _POSTGRESQL_GUARDS}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table("audit_log")  # takes its triggers along
    if dialect == "postgresql":
        op.execute("DROP FUNCTION audit_log_refuse()")
    op.drop_index(op.f("ix_asset_building_id"), table_name="asset")
    op.drop_table("asset")
    op.drop_table("building")
    op.drop_table("site")
