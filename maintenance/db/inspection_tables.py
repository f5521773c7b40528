"""The elevator inspection tables: ``elevator_inspection`` (each car's certificates) and
``inspection_step`` (the reminders and expiry sent for each).

An inspection row is one certificate (:class:`~maintenance.domain.inspections.Certificate`)
of one car, written once: a site file's ``last_safety_inspection`` (on import) or an
inspection recorded through the CLI or the API. A car's current certificate is its
latest inspection by date. A step row says a certificate's 30-day or 7-day reminder or
its expiry was sent; its primary key (certificate, step) is what makes each one happen
at most once, also across workers. Migration ``0015`` creates both; the unit of work's
``inspections`` (:mod:`maintenance.db.inspections`) writes them, and
:mod:`maintenance.db.read.inspections` reads them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.tables import Base, UtcDateTime

__all__ = ["InspectionRow", "InspectionStepRow"]


class InspectionRow(Base):
    """One periodic inspection of one elevator: its certificate, and who recorded it."""

    __tablename__ = "elevator_inspection"
    __table_args__ = (UniqueConstraint("asset_id", "inspected_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id"))
    inspected_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    certificate_number: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InspectionStepRow(Base):
    """A reminder or the expiry, sent for one certificate (once: the primary key)."""

    __tablename__ = "inspection_step"
    __table_args__ = (PrimaryKeyConstraint("inspection_id", "step"),)

    inspection_id: Mapped[int] = mapped_column(ForeignKey("elevator_inspection.id"))
    step: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
