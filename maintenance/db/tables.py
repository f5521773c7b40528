"""The maintenance schema as SQLAlchemy 2 declarative models.

The migrations in :mod:`maintenance.db.migrations` must produce exactly this metadata
(a test compares them), so change both together: edit a model, then add a revision.

Times are stored as UTC without a zone (SQLite has no zoned type) and read back as
timezone-aware UTC by :class:`UtcDateTime`; a naive datetime is refused on the way in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations (and SQLite's batch mode) can refer to them.
NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ASSET_KINDS: Final = ("elevator", "charger_cabinet", "smoke_alarm")

# An integer key that is a 64-bit BIGINT on PostgreSQL but stays SQLite's INTEGER
# PRIMARY KEY, the only type SQLite numbers by itself.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a zone (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Site(Base):
    """A residential compound; ``code`` is the ``site`` of every telemetry topic."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))


class Building(Base):
    """A building of a site; ``code`` is the ``building`` tag the gateways send."""

    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    floors: Mapped[int | None] = mapped_column(Integer)


class Asset(Base):
    """A monitored device; ``device_id`` is its id on the wire, unique within the site.

    The elevator columns are empty for other kinds, and ``ports`` is a charger's.
    """

    __tablename__ = "asset"
    __table_args__ = (
        UniqueConstraint("site_id", "device_id"),
        CheckConstraint("kind IN ('elevator', 'charger_cabinet', 'smoke_alarm')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(200))
    make: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    install_date: Mapped[date | None] = mapped_column(Date)
    rated_load_kg: Mapped[int | None] = mapped_column(Integer)
    rated_speed_mps: Mapped[float | None] = mapped_column(Float)
    floors_served: Mapped[int | None] = mapped_column(Integer)
    last_safety_inspection: Mapped[date | None] = mapped_column(Date)
    maintenance_contractor: Mapped[str | None] = mapped_column(String(200))
    ports: Mapped[int | None] = mapped_column(Integer)


class AuditRow(Base):
    """One sealed audit entry (see :mod:`maintenance.domain.audit`); never updated.

    ``prev_hash`` is unique: two writers chaining onto the same head cannot both commit,
    so the trail cannot fork even where the append lock is missing.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(200))
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
