"""What the web app keeps for people who log in with a password (migration ``0010``).

- ``web_session``: one row per browser login. The cookie holds a random secret; the row
  keeps only its SHA-256 (``token_hash``), like an API token, so a copy of the database
  logs nobody in. ``csrf_secret`` is the token every form of that session must send back.
- ``login_failure``: one row per refused password, by username and client address, so
  login throttling survives restarts and holds across API processes.
- ``web_invite``: a one-time link (its secret's SHA-256 kept) that lets a person set their
  name and password: ``kind`` ``invite`` creates the user it describes, ``reset`` sets a
  new password for ``username``; ``used_at`` makes it single-use.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from maintenance.db.tables import Base, UtcDateTime

__all__ = ["INVITE_KINDS", "InviteRow", "LoginFailureRow", "WebSessionRow"]

INVITE_KINDS = ("invite", "reset")


class WebSessionRow(Base):
    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("api_user.id"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginFailureRow(Base):
    __tablename__ = "login_failure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)


class InviteRow(Base):
    __tablename__ = "web_invite"
    __table_args__ = (CheckConstraint("kind IN ('invite', 'reset')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # invite: the account to create (username chosen by the invited person)
    role: Mapped[str | None] = mapped_column(String(32))
    sites: Mapped[list[str]] = mapped_column(JSON)
    building: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(64))
    # reset: whose password
    username: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
