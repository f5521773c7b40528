"""A work order's rescue timeline and arrivals on site (:mod:`maintenance.domain.rescue`).

``work_order_rescue`` is one row per rescue order, with the targets it opened with (the
site's, copied) and the time of each stage; ``work_order_arrival`` one row per arrival
confirmed on any order, by position. Both are written and read with the order
(:mod:`maintenance.db.mapping`); migration ``0012`` creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.tables import Base, UtcDateTime, _ByActor, _OrderItem

__all__ = ["WorkOrderArrivalRow", "WorkOrderRescueRow"]


class WorkOrderRescueRow(Base):
    __tablename__ = "work_order_rescue"

    order_id: Mapped[str] = mapped_column(ForeignKey("work_order.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    false_alarm_reason: Mapped[str | None] = mapped_column(Text)
    respond_within_min: Mapped[int] = mapped_column(Integer)
    arrive_within_min: Mapped[int] = mapped_column(Integer)
    contracted_maintainer: Mapped[str | None] = mapped_column(String(200))
    chain: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """``[{level, notify, party, after_min}]``: the escalation chain's steps."""


class WorkOrderArrivalRow(_OrderItem, _ByActor, Base):
    __tablename__ = "work_order_arrival"

    at: Mapped[datetime] = mapped_column(UtcDateTime)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
