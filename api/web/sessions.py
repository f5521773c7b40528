"""Server-side sessions for people who log in with a password, and their CSRF tokens.

The ``ew_session`` cookie holds a random secret (HttpOnly, SameSite=Lax, Secure over
https: see :func:`cookie_is_secure`); the ``web_session`` row keeps its SHA-256, the user,
and the session's CSRF secret. :func:`lookup` only reads (a read-only session does) and
says when ``last_seen_at`` is a minute or more behind, like bearer tokens do
(:mod:`api.auth`); a session ends at ``expires_at``, after ``session_idle`` unseen, when
revoked (logout, log out everywhere, a new password) or when its user is deactivated.

Before login there is no session: the login form's CSRF token is a random value in the
``ew_login_csrf`` cookie (SameSite=Strict) that the form must echo (double submit).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.token_secrets import hash_secret
from api.users import User, user_from_row
from maintenance.db.uow import SqlUnitOfWork
from maintenance.db.user_tables import UserRow
from maintenance.db.web_tables import WebSessionRow

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "NewSession",
    "WebLogin",
    "csrf_matches",
    "end_sessions",
    "lookup",
    "new_csrf_token",
    "password_of",
    "start_session",
]

SESSION_COOKIE: Final = "ew_session"
LOGIN_CSRF_COOKIE: Final = "ew_login_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
_SEEN_RESOLUTION: Final = timedelta(minutes=1)
_KEEP_ENDED: Final = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class WebLogin:
    """A live session: who, which row, the CSRF token its forms carry."""

    user: User
    session_id: int
    csrf: str
    stale: bool  # last_seen_at is a minute or more old: mark it (uow.accounts.touch_session)


@dataclass(frozen=True, slots=True)
class NewSession:
    secret: str  # the cookie's value; only its hash is stored
    expires_at: datetime


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, sent: object) -> bool:
    return (
        bool(expected)
        and isinstance(sent, str)
        and hmac.compare_digest(str(expected).encode(), sent.encode())
    )


async def password_of(session: AsyncSession, username: str) -> tuple[User, str | None] | None:
    """An active user and their password hash, for the login form; None: no such user."""
    row = await session.scalar(
        select(UserRow).where(UserRow.username == username, UserRow.active.is_(True))
    )
    return None if row is None else (user_from_row(row), row.password_hash)


async def start_session(
    uow: SqlUnitOfWork, user_id: int, username: str, now: datetime, lifetime: timedelta
) -> NewSession:
    """A new session for a user who just gave the right password; clears their
    username's login failures and deletes sessions that ended 30 days ago or more."""
    secret = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    async with uow:
        await uow.accounts.forget_login_failures(username=username)
        # Ended sessions are kept a while for the record, then dropped as logins come.
        await uow.accounts.prune_sessions(before=now - _KEEP_ENDED)
        await uow.accounts.add_session(
            WebSessionRow(
                token_hash=hash_secret(secret),
                user_id=user_id,
                csrf_secret=new_csrf_token(),
                created_at=now,
                expires_at=expires_at,
                last_seen_at=now,
            )
        )
        await uow.commit()
    return NewSession(secret, expires_at)


async def lookup(
    session: AsyncSession, secret: str, now: datetime, *, idle: timedelta
) -> WebLogin | None:
    """The live session behind a cookie's secret, or None (unknown, ended, or its user
    deactivated)."""
    if not secret or len(secret) > 100:
        return None
    digest = hash_secret(secret)
    found = (
        await session.execute(
            select(WebSessionRow, UserRow)
            .join(UserRow, UserRow.id == WebSessionRow.user_id)
            .where(WebSessionRow.token_hash == digest)
        )
    ).one_or_none()
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        return None
    row, user = found
    if (
        row.revoked_at is not None
        or row.expires_at <= now
        or now - row.last_seen_at >= idle
        or not user.active
    ):
        return None
    stale = now - row.last_seen_at >= _SEEN_RESOLUTION
    return WebLogin(user_from_row(user), row.id, row.csrf_secret, stale)


async def end_sessions(
    uow: SqlUnitOfWork, user_id: int, now: datetime, *, only: int | None = None
) -> None:
    """Log out: this session (``only``) or all the user's ("log out everywhere")."""
    async with uow:
        await uow.accounts.revoke_sessions(user_id, now, only=only)
        await uow.commit()
