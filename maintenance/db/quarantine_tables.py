"""The gateways of the register, and the quarantine of senders it does not know
(revision 0021).

``site_gateway``: a site's gateways, from the site file's ``gateways:`` or registered
from the quarantine. ``quarantine``: one row per unknown device or gateway the
maintenance worker heard from (``device_type`` is ``gateway`` for a gateway), with when
it was first and last heard, how many messages, the last one's gist, and what an operator
decided: ``held`` (nobody yet), ``blocked`` or ``registered``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.tables import Base, BigId, UtcDateTime

__all__ = ["QUARANTINE_STATES", "QuarantineRow", "SiteGateway"]

QUARANTINE_STATES: Final = ("held", "blocked", "registered")


class SiteGateway(Base):
    """A gateway the site's register knows; ``gateway_id`` is its id on the wire."""

    __tablename__ = "site_gateway"
    __table_args__ = (UniqueConstraint("site_id", "gateway_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id"))
    gateway_id: Mapped[str] = mapped_column(String(64))


class QuarantineRow(Base):
    """A device or gateway heard from but not in the register."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("site", "device_type", "device_id"),
        CheckConstraint("state IN ('held', 'blocked', 'registered')", name="state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    device_type: Mapped[str] = mapped_column(String(64))
    """The wire's device type, or ``gateway``."""
    device_id: Mapped[str] = mapped_column(String(64))
    """The device id, or the gateway id."""
    gateway_id: Mapped[str] = mapped_column(String(64))
    """The gateway the last message came through (the entry's own id for a gateway)."""
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    messages: Mapped[int] = mapped_column(Integer)
    sample: Mapped[str] = mapped_column(Text)
    """The last message's gist (kind, time, field names), at most 1 KB."""
    state: Mapped[str] = mapped_column(String(16), server_default="held")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
