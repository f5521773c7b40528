"""The people who call the API and their bearer tokens, on the maintenance schema.

They live here, not in ``api``, because the maintenance database owns its schema (a
service never imports an entry point). Migration ``0003`` creates the tables; the model
registry (:mod:`maintenance.db.models`) puts them on the metadata Alembic compares with.
A token row keeps only the SHA-256 of the secret: the secret itself is shown once.
Migration ``0010`` adds what the web app needs: a user's argon2 ``password_hash`` (NULL:
cannot log in with a password) and ``locale`` (NULL: the browser's language), and the
tables of :mod:`maintenance.db.web_tables`. Migration ``0018`` adds the person's own
notification settings (:class:`maintenance.domain.preferences.Preferences`): ``email``,
``chat_handle``, the channels (``notify_email``, ``notify_chat``) and quiet hours.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Time,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.tables import Base, UtcDateTime
from maintenance.domain.preferences import NotifyChannel, Preferences, QuietHours

__all__ = ["ROLE_CHECK", "TokenRow", "UserRow"]

ROLE_CHECK = "role IN ('admin', 'manager', 'technician', 'committee', 'supervisor', 'resident')"


class UserRow(Base):
    """A person who calls the API. ``username`` is the user id work orders and the audit
    trail record; ``sites`` are the site codes a technician works at; ``building`` and
    ``unit`` locate a resident's home."""

    __tablename__ = "api_user"
    __table_args__ = (CheckConstraint(ROLE_CHECK, name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    sites: Mapped[list[str]] = mapped_column(JSON)
    building: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    chat_handle: Mapped[str | None] = mapped_column(String(64))
    notify_email: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    notify_chat: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)

    @property
    def preferences(self) -> Preferences:
        channels: list[NotifyChannel] = ["email"] if self.notify_email else []
        if self.notify_chat:
            channels.append("chat")
        quiet = None
        if self.quiet_start is not None and self.quiet_end is not None:
            quiet = QuietHours(self.quiet_start, self.quiet_end)
        return Preferences(self.email, frozenset(channels), self.chat_handle, quiet, self.locale)


class TokenRow(Base):
    """A bearer token: the hex SHA-256 of its secret, never the secret."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("api_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
