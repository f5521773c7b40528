"""Who is calling: a bearer secret (see :mod:`api.token_secrets`) to its user.

:func:`authenticate` finds a token by its hash (a unique index), re-compares the hashes
in constant time, and refuses a token that is unknown, revoked, expired or whose user is
deactivated, with one reason; the caller answers 401 with ``WWW-Authenticate: Bearer``
whatever the reason, so a guesser learns nothing. It only reads (a read-only session
does), and says when ``last_used_at`` is a minute or more behind: :mod:`api.deps` then
writes it through a unit of work (``uow.accounts.touch``) in its own short transaction,
so requests do not turn into a write each.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.token_secrets import TOKEN_PREFIX, hash_secret
from api.users import User, user_from_row
from maintenance.db.user_tables import TokenRow, UserRow

__all__ = ["AuthFailure", "Authenticated", "authenticate"]

_LAST_USED_RESOLUTION: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """Why a token was refused, for the log; the client only ever sees 401."""

    reason: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: User
    token_id: int
    stale: bool  # last_used_at is a minute or more old: mark it (uow.accounts.touch)


async def authenticate(
    session: AsyncSession, secret: str, now: datetime
) -> Authenticated | AuthFailure:
    """The user a bearer secret belongs to, or why it is refused."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return AuthFailure("not an estatewatch token")
    digest = hash_secret(secret)
    found = (
        await session.execute(
            select(TokenRow, UserRow)
            .join(UserRow, UserRow.id == TokenRow.user_id)
            .where(TokenRow.token_hash == digest)
        )
    ).one_or_none()
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        return AuthFailure("unknown token")
    token, user = found
    if token.revoked_at is not None:
        return AuthFailure(f"token {token.id} was revoked")
    if token.expires_at <= now:
        return AuthFailure(f"token {token.id} expired at {token.expires_at.isoformat()}")
    if not user.active:
        return AuthFailure(f"user {user.username} is deactivated")
    stale = token.last_used_at is None or now - token.last_used_at >= _LAST_USED_RESOLUTION
    return Authenticated(user_from_row(user), token.id, stale)
