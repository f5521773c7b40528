"""The maintenance schema as SQLAlchemy 2 declarative models.

The migrations in :mod:`maintenance.db.migrations` must produce exactly this metadata
(a test compares them), so change both together: edit a model, then add a revision.

Times are stored as UTC without a zone (SQLite has no zoned type) and read back as
timezone-aware UTC by :class:`UtcDateTime`; a naive datetime is refused on the way in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
    text,
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

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        usual = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or usual is None:
            return usual

        # SQLite keeps the time as text. Parsed with "+00:00" added it comes out aware at
        # once: the usual parse and then replace(tzinfo=UTC) (0.77 µs of the ~1.2 a value
        # took) were a third of a work-order page's row processing. Text in another shape
        # takes the usual way.
        def parse_utc(value: Any) -> datetime | None:
            if value is None:
                return None
            try:
                return datetime.fromisoformat(value + "+00:00")
            except (TypeError, ValueError):
                return usual(value)

        return parse_utc


class ExactDecimal(TypeDecorator[Decimal]):
    """Money as its exact decimal text: no float rounding, on every database alike."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Site(Base):
    """A residential compound; ``code`` is the ``site`` of every telemetry topic."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    timezone: Mapped[str] = mapped_column(String(64), server_default="Asia/Shanghai")
    """IANA zone of the site's pages and months (:mod:`maintenance.domain.site_time`)."""
    rescue: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The site file's rescue settings (``maintenance.sites.RescuePolicy.stored``);
    None: the defaults."""


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
    rescue_code: Mapped[str | None] = mapped_column(String(12), unique=True)
    """An elevator's code for a trapped passenger to give (unique across sites)."""
    registration_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    """An elevator's equipment registration code, for regulators (revision 0014)."""


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


# -- alarms and work orders (maintenance.domain.alarms / .workorders) ------------------

OPEN_ORDER = text("status NOT IN ('closed', 'cancelled')")
ACTIVE_ALARM = text("cleared_at IS NULL")


class WorkOrderRow(Base):
    """A work order; its lists live in the ``work_order_*`` tables, by position.

    ``entered_at`` is ``{status: ISO time}``; ``resolvers`` a list of user ids. The
    partial unique index keeps at most one open order per (asset, fault kind).
    """

    __tablename__ = "work_order"
    __table_args__ = (
        Index(
            "uq_work_order_open_asset_fault",
            "asset",
            "fault_kind",
            unique=True,
            sqlite_where=OPEN_ORDER,
            postgresql_where=OPEN_ORDER,
        ),
        Index(None, "asset", "fault_kind", "closed_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    asset: Mapped[str] = mapped_column(String(300))
    site: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64))
    fault_kind: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(2))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by_user: Mapped[str | None] = mapped_column(String(100))
    created_by_role: Mapped[str | None] = mapped_column(String(32))
    requested_by: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    repeat_of: Mapped[str | None] = mapped_column(ForeignKey("work_order.id"))
    assignee: Mapped[str | None] = mapped_column(String(100))
    entered_at: Mapped[dict[str, str]] = mapped_column(JSON)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_feedback_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolvers: Mapped[list[str]] = mapped_column(JSON)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cost_estimate: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    cost_actual: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    rating_by_user: Mapped[str | None] = mapped_column(String(100))
    rating_by_role: Mapped[str | None] = mapped_column(String(32))
    rating_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rating_stars: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(String(32))
    """How a closed order ended when not through its steps (``self_cleared``), else NULL."""
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When the earliest running SLA clock is due (``sla.order_due_at``), written by the
    unit of work at every change; ``due_policy`` names the targets it was computed under
    (``SlaPolicy.due_fingerprint``), so a changed policy is found and recomputed."""
    due_policy: Mapped[str | None] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(2))
    """GB/T 24476 code (revision 0014)."""


class AlarmRow(Base):
    """An alarm; the partial unique index keeps one active alarm per (device, rule)."""

    __tablename__ = "alarm"
    __table_args__ = (
        Index(
            "uq_alarm_active_device_rule",
            "site",
            "device_type",
            "device_id",
            "rule",
            unique=True,
            sqlite_where=ACTIVE_ALARM,
            postgresql_where=ACTIVE_ALARM,
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(64))
    device_type: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str] = mapped_column(String(64))
    building: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str | None] = mapped_column(String(2))
    fault_kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(Integer)
    acknowledged_by_user: Mapped[str | None] = mapped_column(String(100))
    acknowledged_by_role: Mapped[str | None] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    work_order_id: Mapped[str | None] = mapped_column(ForeignKey("work_order.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(2))
    """GB/T 24476 code (revision 0014)."""


class _OrderItem:
    """Columns shared by a work order's list tables: the order and the item's position."""

    order_id: Mapped[str] = mapped_column(ForeignKey("work_order.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)


class _ByActor:
    by_user: Mapped[str] = mapped_column(String(100))
    by_role: Mapped[str] = mapped_column(String(32))


class WorkOrderAlarmRow(_OrderItem, Base):
    """The alarms linked to an order, in the order they came."""

    __tablename__ = "work_order_alarm"

    alarm_id: Mapped[str] = mapped_column(ForeignKey("alarm.id"), index=True)


class WorkOrderNoteRow(_OrderItem, _ByActor, Base):
    __tablename__ = "work_order_note"

    at: Mapped[datetime] = mapped_column(UtcDateTime)
    text: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean)


class WorkOrderHoldRow(_OrderItem, _ByActor, Base):
    __tablename__ = "work_order_hold"

    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WorkOrderApprovalRow(_OrderItem, _ByActor, Base):
    __tablename__ = "work_order_approval"

    at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved: Mapped[bool] = mapped_column(Boolean)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    reason: Mapped[str | None] = mapped_column(Text)


class WorkOrderVerificationRow(_OrderItem, _ByActor, Base):
    __tablename__ = "work_order_verification"

    at: Mapped[datetime] = mapped_column(UtcDateTime)
    passed: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)


class WorkOrderEscalationRow(_OrderItem, Base):
    """SLA escalations already sent: each (clock, level) once per order."""

    __tablename__ = "work_order_escalation"
    __table_args__ = (UniqueConstraint("order_id", "clock", "level"),)

    clock: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer)
    notify: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class WorkOrderCounterRow(Base):
    """The last work-order number handed out per year (``WO-<year>-<number>``)."""

    __tablename__ = "work_order_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)
