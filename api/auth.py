"""Who is calling: a bearer secret (see :mod:`api.token_secrets`) to its user.

:func:`authenticate` finds a token by its hash (a unique index), re-compares the hashes
in constant time, and refuses a token that is unknown, revoked, expired or whose user is
deactivated, with one reason; the caller answers 401 with ``WWW-Authenticate: Bearer``
whatever the reason, so a guesser learns nothing. It only reads (a read-only session
does), and says when ``last_used_at`` is a minute or more behind: :mod:`api.deps` then
writes it through a unit of work (``uow.accounts.touch``) in its own short transaction,
so requests do not turn into a write each.

:class:`VerifiedTokens` keeps what :func:`authenticate` accepted for a short while
(:data:`VERIFIED_FOR`, 2 s), so a busy client's requests do not each open a session and
query the token (that was a sixth of a list request's time). The bound is stated, not
hoped for: a token revoked, or a user deactivated or changed, by this process is forgotten
at once (:class:`ForgetVerifiedOnWrites` empties the cache when any request that may write
starts answering: every such change is one); one revoked by another process (the command
line, a second API process) is refused within :data:`VERIFIED_FOR`. A remembered token
is still refused the moment it expires, by the injected clock.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.token_secrets import TOKEN_PREFIX, hash_secret
from api.users import User, user_from_row
from maintenance.db.user_tables import TokenRow, UserRow

__all__ = [
    "VERIFIED_FOR",
    "AuthFailure",
    "Authenticated",
    "ForgetVerifiedOnWrites",
    "VerifiedTokens",
    "authenticate",
]

_LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
VERIFIED_FOR: Final = timedelta(seconds=2)
"""How long an accepted token is believed without asking the database again."""
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """Why a token was refused, for the log; the client only ever sees 401."""

    reason: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: User
    token_id: int
    stale: bool  # last_used_at is a minute or more old: mark it (uow.accounts.touch)
    expires_at: datetime


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
    return Authenticated(user_from_row(user), token.id, stale, token.expires_at)


class VerifiedTokens:
    """Tokens :func:`authenticate` accepted in the last ``verified_for``, by their hash;
    at most ``size`` of them (the least recently used go first)."""

    def __init__(self, verified_for: timedelta = VERIFIED_FOR, size: int = 1024) -> None:
        self._verified_for = verified_for
        self._size = size
        self._accepted: OrderedDict[str, tuple[Authenticated, datetime]] = OrderedDict()
        # Tokens whose last use a request is writing now: a burst of requests with one
        # stale token writes it once, not once each (they would queue on SQLite's lock).
        self._marking: set[int] = set()

    def get(self, secret: str, now: datetime) -> Authenticated | None:
        """The caller ``secret`` was accepted as, if that was recent and it has not expired."""
        digest = hash_secret(secret)
        found = self._accepted.get(digest)
        if found is None:
            return None
        accepted, at = found
        if not at <= now < at + self._verified_for or accepted.expires_at <= now:
            del self._accepted[digest]
            return None
        self._accepted.move_to_end(digest)
        return accepted

    def put(self, secret: str, accepted: Authenticated, now: datetime) -> None:
        self._accepted[hash_secret(secret)] = (accepted, now)
        if len(self._accepted) > self._size:
            self._accepted.popitem(last=False)

    def clear(self) -> None:
        self._accepted.clear()

    def start_marking(self, token_id: int) -> bool:
        """Whether this request should write the token's last use (no other is)."""
        if token_id in self._marking:
            return False
        self._marking.add(token_id)
        return True

    def done_marking(self, token_id: int) -> None:
        self._marking.discard(token_id)


class ForgetVerifiedOnWrites:
    """Empties ``tokens`` as a request that may change something (any method but GET,
    HEAD, OPTIONS) starts its answer: by then its transaction has committed, and the next
    request, whoever sends it, reads tokens and users afresh."""

    def __init__(self, app: ASGIApp, tokens: VerifiedTokens) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return

        async def forgetting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.tokens.clear()
            await send(message)

        await self.app(scope, receive, forgetting_send)
